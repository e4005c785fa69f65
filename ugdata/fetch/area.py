"""The area a fetch covers: exactly one of --bbox W,S,E,N, --place NAME (osmnx geocoding, online) or
--osm FILE (the file's bounds). Shared by every `ugdata fetch` source."""

from __future__ import annotations

import bz2
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from ugcore.errors import DataError, UserError

BBox = tuple[float, float, float, float]  # W, S, E, N (degrees, WGS84)


@dataclass(frozen=True)
class Area:
    bbox: BBox
    query: dict  # how the area was given ({"bbox": [...]}, {"place": ...}, {"osm": file name}); for fetch.json
    city: str | None = None  # a city name derived from --place / --osm (None for a bare bbox)


def resolve_area(bbox: str | None, place: str | None, osm: Path | None, *, city: str | None = None) -> Area:
    """Exactly one of bbox / place / osm -> Area (UserError otherwise)."""
    from ugdata.osm_source import city_name_for, parse_bbox

    given = [n for n, v in (("--bbox", bbox), ("--place", place), ("--osm", osm)) if v]
    if len(given) != 1:
        raise UserError("give exactly one area: --bbox W,S,E,N, --place NAME or --osm FILE"
                        + (f" (got {', '.join(given)})" if given else ""))
    if bbox:
        b = parse_bbox(bbox, "--bbox")
        return Area(b, {"bbox": list(b)}, city)
    if place:
        return Area(geocode_place(place), {"place": place}, city or place.split(",")[0].strip().lower().replace(" ", "_"))
    assert osm is not None
    osm = Path(osm)
    if not osm.is_file():
        raise UserError(f"--osm {osm}: file not found")
    return Area(osm_bounds(osm), {"osm": osm.name}, city or city_name_for(osm))


def geocode_place(place: str) -> BBox:
    """The bounding box of a place name through osmnx's Nominatim geocoder (needs internet)."""
    import osmnx as ox

    try:
        gdf = ox.geocode_to_gdf(place)
    except Exception as e:  # network errors, "Nominatim could not geocode"
        raise UserError(f"--place {place!r} could not be geocoded ({type(e).__name__}: {str(e)[:120]}); "
                        "check the name or pass --bbox W,S,E,N") from None
    w, s, e, n = (float(v) for v in gdf.total_bounds)
    return w, s, e, n


_BOUNDS_RE = re.compile(rb"<bounds\s[^>]*>")
_ATTR_RE = re.compile(rb'(minlat|minlon|maxlat|maxlon)\s*=\s*["\']([-0-9.eE+]+)["\']')


def osm_bounds(path: Path) -> BBox:
    """W,S,E,N of an OSM extract: the <bounds> element of an XML file when present, else the extent of its
    street network (parsed with the builder's reader, so every format ugdata build reads works)."""
    name = path.name.lower()
    if name.endswith((".osm", ".osm.gz", ".osm.bz2", ".xml")):
        opener = gzip.open if name.endswith(".gz") else bz2.open if name.endswith(".bz2") else open
        try:
            with opener(path, "rb") as fh:
                head = fh.read(1 << 16)
        except OSError as e:
            raise DataError(f"--osm {path}: cannot read ({e})") from None
        m = _BOUNDS_RE.search(head)
        if m:
            attrs = {k.decode(): float(v) for k, v in _ATTR_RE.findall(m.group(0))}
            if len(attrs) == 4:
                return attrs["minlon"], attrs["minlat"], attrs["maxlon"], attrs["maxlat"]
    from ugdata.osm_source import load_osm

    data = load_osm(path)
    xs = [d["x"] for _, d in data.graph.nodes(data=True)]
    ys = [d["y"] for _, d in data.graph.nodes(data=True)]
    if not xs:
        raise DataError(f"--osm {path}: no streets, so no area to fetch")
    return min(xs), min(ys), max(xs), max(ys)
