"""The OSM context that a synthetic street view is rendered from.

The builder (ugdata core) computes one ViewContext per sampled view point and heading from the real OSM
graph; `ugdata.render.synth.render_view` turns it into pixels. Keeping the context a small frozen value
object means the image is a pure function of it (hashable, cacheable, easy to test) and the visual
encoding can evolve without touching the graph code.

Angles are degrees clockwise from north in [0, 360). Densities and shares are fractions in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Road classes the renderer distinguishes (OSM highway values); anything else renders as "unclassified".
ROAD_CLASSES: tuple[str, ...] = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "pedestrian",
    "footway",
    "cycleway",
    "path",
    "steps",
    "track",
)


def _unit(x: float, name: str) -> float:
    x = float(x)
    if not math.isfinite(x) or x < 0.0 or x > 1.0:
        raise ValueError(f"ViewContext.{name} must be in [0, 1], got {x!r}")
    return x


@dataclass(frozen=True)
class ViewContext:
    """Everything `render_view` draws, derived from real OSM data at one point and camera heading.

    heading_deg: absolute camera heading (compass), drives sun position / sky tint.
    street_bearing_deg: bearing of the street edge the view is anchored to; heading minus bearing decides
        whether the camera looks along the street or across it at the facades.
    road_class: OSM highway value of that street (e.g. "primary", "residential", "footway").
    road_width_m: carriageway width in metres (OSM `width` or a class default).
    lanes: number of lanes (OSM `lanes` or a class default; 0 for paths without lanes).
    building_density_left / _right: built-up share on each side of the street as seen by the camera.
    building_levels: typical building height in storeys (OSM `building:levels`, median around the point).
    poi_categories: OSM amenity/shop values visible in the viewing direction, nearest first.
    green_share / water_share: share of parks/grass/trees and water around the point.
    distance_to_intersection_m: distance to the nearest intersection (inf if none known).
    seed: seeds the mild texture noise only (the scene layout is a function of the other fields).
    """

    heading_deg: float
    street_bearing_deg: float
    road_class: str
    road_width_m: float
    lanes: int
    building_density_left: float
    building_density_right: float
    building_levels: float
    poi_categories: tuple[str, ...] = field(default_factory=tuple)
    green_share: float = 0.0
    water_share: float = 0.0
    distance_to_intersection_m: float = math.inf
    seed: int = 0

    def __post_init__(self) -> None:
        # Normalise instead of rejecting angles: headings from real data come as -90 or 450 as often as not.
        object.__setattr__(self, "heading_deg", float(self.heading_deg) % 360.0)
        object.__setattr__(self, "street_bearing_deg", float(self.street_bearing_deg) % 360.0)
        object.__setattr__(self, "road_class", str(self.road_class))
        object.__setattr__(self, "poi_categories", tuple(str(c) for c in self.poi_categories))
        for name in ("building_density_left", "building_density_right", "green_share", "water_share"):
            object.__setattr__(self, name, _unit(getattr(self, name), name))
        width = float(self.road_width_m)
        if not math.isfinite(width) or width < 0:
            raise ValueError(f"ViewContext.road_width_m must be a finite number >= 0, got {width!r}")
        object.__setattr__(self, "road_width_m", width)
        object.__setattr__(self, "lanes", max(0, int(self.lanes)))
        levels = float(self.building_levels)
        if not math.isfinite(levels) or levels < 0:
            raise ValueError(f"ViewContext.building_levels must be a finite number >= 0, got {levels!r}")
        object.__setattr__(self, "building_levels", levels)
        d = float(self.distance_to_intersection_m)
        if math.isnan(d) or d < 0:
            raise ValueError(f"ViewContext.distance_to_intersection_m must be >= 0 (or inf), got {d!r}")
        object.__setattr__(self, "distance_to_intersection_m", d)
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def relative_heading_deg(self) -> float:
        """Camera heading relative to the street direction, in [0, 360): 0 = along, 90 = right facades."""
        return (self.heading_deg - self.street_bearing_deg) % 360.0
