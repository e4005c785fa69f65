"""Spatial-context captions: offline, deterministic templates behind a pluggable `Captioner` protocol.

The UGE paper has a VLM write each caption from the image plus a description of the surrounding network.
Offline we have no VLM, so the default `TemplateCaptioner` writes the facts directly from the OSM context
(street and class, facing direction, nearest intersection and its degree, nearest POIs with distance in
metres and 8-way direction, the surrounding area). Users with a VLM implement `Captioner` and pass it to
`build_ugdata(captioner=...)`; they receive the same facts plus the image.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from ugcore.geo import COMPASS8


class NearbyPOI(NamedTuple):
    node_id: str
    name: str
    category: str
    distance_m: float  # haversine from the view point
    bearing_deg: float  # initial bearing from the view point


class CaptionFacts(NamedTuple):
    """Everything a captioner may use about one view (all derived from real OSM data). A NamedTuple, not a
    dataclass: one is built per view, and at 100k views construction cost matters."""

    image_id: str
    city: str
    lon: float
    lat: float
    heading_deg: float  # NaN if unknown
    relative_heading_deg: float  # NaN if unknown
    street_name: str
    street_class: str
    lanes: float
    width_m: float
    side: str
    intersection_name: str
    intersection_degree: int
    intersection_distance_m: float
    intersection_bearing_deg: float
    pois: tuple[NearbyPOI, ...] = ()  # nearest first
    area_kind: str = ""  # e.g. "landuse: residential", "park: park"
    area_name: str = ""
    building_share: float = 0.0
    green_share: float = 0.0
    water_share: float = 0.0


@runtime_checkable
class Captioner(Protocol):
    """Writes one caption per view. `image` is the PIL image (None when building metadata only)."""

    name: str

    def caption(self, facts: CaptionFacts, image=None) -> str: ...


def compass8(bearing: float) -> str:
    """Scalar 8-way compass (same bins as ugcore.geo.compass8, without numpy overhead per call)."""
    return COMPASS8[int((bearing % 360.0 + 22.5) // 45.0) % 8]


def street_phrase(name: str, cls: str) -> str:
    cls_txt = cls.replace("_", " ")
    return f"{name}, a {cls_txt} street" if name else f"an unnamed {cls_txt} street"


def looking_phrase(rel: float) -> str:
    if rel != rel:  # NaN
        return ""
    r = rel % 360.0
    if r < 45 or r >= 315:
        return "looking along the street"
    if r < 135:
        return "looking across the street to the right"
    if r < 225:
        return "looking back along the street"
    return "looking across the street to the left"


def fmt_m(d: float) -> str:
    return f"{round(float(d)):d} m"


class TemplateCaptioner:
    """Deterministic caption from CaptionFacts. Distances are rounded to whole metres; directions are the
    8-way compass of the bearing from the view point."""

    name = "template-v1"

    def __init__(self, max_pois: int = 3):
        self.max_pois = max_pois

    def caption(self, facts: CaptionFacts, image=None) -> str:
        parts = []
        head = f"Street view on {street_phrase(facts.street_name, facts.street_class)}"
        if facts.heading_deg == facts.heading_deg:
            head += f", facing {compass8(facts.heading_deg)}, {looking_phrase(facts.relative_heading_deg)}"
        head += f", from its {facts.side} side"
        lanes = int(round(facts.lanes)) if facts.lanes == facts.lanes else 0
        if lanes > 0:
            head += f" ({lanes} lane{'s' if lanes != 1 else ''}, about {round(facts.width_m):d} m wide)"
        parts.append(head + ".")
        if facts.intersection_name or facts.intersection_degree >= 3:
            what = facts.intersection_name or "an intersection"
            parts.append(
                f"The nearest intersection, {what}, is {fmt_m(facts.intersection_distance_m)} to the "
                f"{compass8(facts.intersection_bearing_deg)} where {facts.intersection_degree} street segments meet."
            )
        pois = [p for p in facts.pois if p.name][: self.max_pois] or list(facts.pois[: self.max_pois])
        if pois:
            items = [
                f"{p.name or 'a ' + p.category.replace('_', ' ')} ({p.category.replace('_', ' ')}) "
                f"{fmt_m(p.distance_m)} {compass8(p.bearing_deg)}"
                for p in pois
            ]
            parts.append("Nearby: " + "; ".join(items) + ".")
        else:
            parts.append("No points of interest within 100 m.")
        area = []
        if facts.area_kind:
            area.append(f"inside {facts.area_name + ' ' if facts.area_name else ''}({facts.area_kind})")
        area.append(f"buildings cover {round(100 * facts.building_share):d}% of the surroundings within 50 m")
        if facts.green_share >= 0.05:
            area.append(f"greenery {round(100 * facts.green_share):d}%")
        if facts.water_share >= 0.05:
            area.append(f"water {round(100 * facts.water_share):d}%")
        parts.append("Surroundings: " + ", ".join(area) + ".")
        return " ".join(parts)
