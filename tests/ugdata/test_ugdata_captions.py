"""Caption facts against independent geodesy: the `haversine` package and a separately written bearing."""

from __future__ import annotations

import math
import re

import pytest
from haversine import Unit, haversine

import ugdata
from ugdata.captions import Captioner, CaptionFacts, TemplateCaptioner

COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]


def ref_bearing(lat1, lon1, lat2, lon2) -> float:
    """Initial great-circle bearing, written independently of ugcore.geo."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def ref_compass(b: float) -> str:
    return COMPASS[int(((b % 360) + 22.5) // 45) % 8]


POI_RE = re.compile(r"^(?P<name>.+) \((?P<cat>[^()]+)\) (?P<d>\d+) m (?P<dir>N|NE|E|SE|S|SW|W|NW)$")


def _near_pois(d, image_node):
    nodes = d.nodes.set_index("node_id")
    e = d.edges
    ids = list(e[(e.src == image_node) & (e.rel == "near")].dst)
    return nodes.loc[ids]


def test_caption_poi_distances_and_directions(small_dir):
    d = ugdata.load(small_dir)
    v = d.views()
    nodes = d.nodes.set_index("node_id")
    checked = 0
    for r in v.itertuples():
        m = re.search(r"Nearby: (.*?)\. Surroundings", r.caption)
        if not m:
            continue
        # candidates: every POI node of this city (names may repeat, so accept a match on any of them)
        for item in m.group(1).split("; "):
            hit = POI_RE.match(item)
            if hit is None:  # a name that itself contains "; " cannot be split back; others are checked
                continue
            name = hit.group("name").strip()
            cands = nodes[(nodes.type == "poi") & ((nodes.name == name) | (name.startswith("a ") & (nodes.name == "")))]
            ok = False
            for _, p in cands.iterrows():
                dist = haversine((r.lat, r.lon), (p.lat, p.lon), unit=Unit.METERS)
                if abs(dist - int(hit.group("d"))) <= 0.5 + 1e-6 and ref_compass(ref_bearing(r.lat, r.lon, p.lat, p.lon)) == hit.group("dir"):
                    ok = True
                    break
            assert ok, (r.image_id, hit.group(0))
            checked += 1
    assert checked >= 100


def test_caption_intersection_and_heading(small_dir):
    d = ugdata.load(small_dir)
    v = d.views()
    inter = d.nodes[d.nodes.category == "intersection"]
    n = 0
    for r in v.itertuples():
        assert f"facing {ref_compass(r.heading)}" in r.caption
        assert r.street_name in r.caption
        m = re.search(r"is (\d+) m to the (\w+) where (\d+) street segments meet", r.caption)
        assert m, r.caption
        dists = [haversine((r.lat, r.lon), (a, b), unit=Unit.METERS) for a, b in zip(inter.lat, inter.lon, strict=True)]
        k = min(range(len(dists)), key=dists.__getitem__)
        assert abs(dists[k] - int(m.group(1))) <= 1.0
        assert ref_compass(ref_bearing(r.lat, r.lon, inter.lat.iloc[k], inter.lon.iloc[k])) == m.group(2)
        n += 1
    assert n == len(v)


def test_captioner_protocol_is_pluggable(tmp_path, town_osm):
    from ugdata.build import build_ugdata

    class Shouty:
        name = "shouty"

        def caption(self, facts: CaptionFacts, image=None) -> str:
            return f"{facts.street_name.upper()} {len(facts.pois)}"

    assert isinstance(Shouty(), Captioner) and isinstance(TemplateCaptioner(), Captioner)
    out = build_ugdata(tmp_path / "o", osm=[str(town_osm)], synth=8, render=False, captioner=Shouty(), buffer_m=0,
                       graphml=False)
    d = ugdata.load(out)
    assert d.manifest["captioner"] == "shouty"
    assert all(re.fullmatch(r"(RIVI|KATU) \d \d+", c) for c in d.views().caption)


@pytest.mark.parametrize("rel,expected", [(0, "along"), (90, "to the right"), (180, "back along"), (270, "to the left")])
def test_looking_phrase(rel, expected):
    from ugdata.captions import looking_phrase

    assert expected in looking_phrase(rel)
