"""StreetSem-style text queries and OSM-derived perception proxies per view.

queries: five query types as in StreetSem (atmosphere, activity, object, geography, creativity), written
offline from templates of the view's real spatial context (StreetSem has an LLM write them from a VLM summary).

perception: PROXIES, not human judgements (Place Pulse has no OSM equivalent). Each is a documented
function of OSM data around the view point, in [0, 1]:
  greenery          share of park/grass/wood/garden area within 50 m (coverage raster)
  water             share of water area within 50 m
  building_density  share of built-up area within 50 m
  enclosure         built-up share on the camera's two sides, weighted by building height (levels / 8)
  commercial        commercial POIs (shops, food, drink, banks) among the 8 nearest within 100 m, / 8
  poi_density       POIs among the 8 nearest within 100 m, / 8
  street_size       carriageway width / 30 m (OSM width, else lanes x 3.25 m, else class default)
  street_rank       OSM highway class rank / 7 (motorway 7 ... service, pedestrian 1)
  intersection_proximity   1 - min(distance to the nearest intersection, 200 m) / 200 m
  building_height   median building:levels within 60 m / 10 (3 storeys where untagged)
"""

from __future__ import annotations

import numpy as np

from ugdata.captions import compass8

PERCEPTION_KEYS = (
    "greenery", "water", "building_density", "enclosure", "commercial", "poi_density", "street_size",
    "street_rank", "intersection_proximity", "building_height",
)
QUERY_TYPES = ("atmosphere", "activity", "object", "geography", "creativity")

ACTIVITY = {
    "restaurant": "have dinner", "cafe": "grab a coffee", "fast_food": "get a quick bite", "bar": "have a drink",
    "pub": "have a pint", "bank": "withdraw money at a bank", "pharmacy": "buy medicine", "school": "drop kids at school",
    "place_of_worship": "attend a service", "library": "borrow a book", "theatre": "see a play", "cinema": "watch a film",
    "hotel": "check into a hotel", "museum": "visit a museum", "clothes": "shop for clothes", "supermarket": "buy groceries",
    "convenience": "pick up snacks", "hairdresser": "get a haircut", "bakery": "buy fresh bread", "parking": "park a car",
    "bus_station": "catch a bus", "nightclub": "go dancing", "ice_cream": "get an ice cream", "books": "browse books",
}


def _cat(c: str) -> str:
    return c.replace("_", " ")


def perception_row(green, water, bld, left, right, levels, n_comm, n_poi, width, rank, inter_d) -> dict[str, float]:
    f = float
    inter = 0.0 if not np.isfinite(inter_d) else 1.0 - min(float(inter_d), 200.0) / 200.0
    return {
        "greenery": f(green),
        "water": f(water),
        "building_density": f(bld),
        "enclosure": f(min(1.0, 0.5 * (left + right) * min(levels / 8.0, 1.5))),
        "commercial": f(min(n_comm / 8.0, 1.0)),
        "poi_density": f(min(n_poi / 8.0, 1.0)),
        "street_size": f(min(width / 30.0, 1.0)),
        "street_rank": f(min(rank / 7.0, 1.0)),
        "intersection_proximity": f(inter),
        "building_height": f(min(levels / 10.0, 1.0)),
    }


def atmosphere_words(p: dict[str, float]) -> str:
    words = []
    if p["commercial"] >= 0.5:
        words.append("bustling commercial")
    elif p["poi_density"] >= 0.5:
        words.append("lively")
    else:
        words.append("quiet")
    if p["greenery"] >= 0.2:
        words.append("leafy")
    if p["water"] >= 0.1:
        words.append("waterside")
    if p["building_density"] >= 0.4:
        words.append("densely built")
    elif p["building_density"] < 0.1:
        words.append("open")
    return ", ".join(words)


def queries_row(street: str, cls: str, city: str, poi_cats: list[str], poi_names: list[str],
                inter_name: str, inter_d: float, inter_b: float, p: dict[str, float], heading: float) -> dict[str, str]:
    street_txt = street or f"an unnamed {_cat(cls)} street"
    first_cat = poi_cats[0] if poi_cats else ""
    act = ACTIVITY.get(first_cat, f"visit a {_cat(first_cat)}" if first_cat else "take a walk")
    objects = []
    if poi_cats:
        objects.append("storefronts of " + ", ".join(dict.fromkeys(_cat(c) for c in poi_cats[:3])))
    if p["greenery"] >= 0.1:
        objects.append("trees and grass")
    if p["water"] >= 0.05:
        objects.append("water")
    objects.append(f"a {_cat(cls)} road")
    if p["building_density"] >= 0.2:
        objects.append(f"{'tall' if p['building_height'] >= 0.5 else 'low'} buildings")
    geo = f"On {street_txt} in {city}"
    if inter_name and np.isfinite(inter_d):
        geo += f", about {round(inter_d):d} m {compass8(inter_b)} of the {inter_name.lower().replace('intersection of', 'corner of')}"
    named = [n for n in poi_names if n]
    if named:
        geo += f", next to {named[0]}"
    facing = f" facing {compass8(heading)}" if np.isfinite(heading) else ""
    return {
        "atmosphere": f"A {atmosphere_words(p)} {_cat(cls)} street{facing}",
        "activity": f"Somewhere to {act} along {street_txt}",
        "object": "A street view showing " + ", ".join(objects),
        "geography": geo,
        "creativity": (f"If this corner of {city} had a slogan, it would be about "
                       f"{_cat(first_cat) if first_cat else 'its ' + ('greenery' if p['greenery'] >= 0.1 else 'buildings')}"
                       f" on {street_txt}"),
    }
