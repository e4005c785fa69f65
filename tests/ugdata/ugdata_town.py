"""A small synthetic-but-valid OSM XML town written by the tests (no network, no shared data).

A 4 x 4 grid of nodes 100 m apart around (60.0 N, 25.0 E). East-west streets "Rivi 0..3" run west->east
with increasing node ids (so the segment direction u->v points east); north-south streets "Katu 0..3"
run south->north. Plus named POIs, a park polygon and building footprints.
"""

from __future__ import annotations

import bz2
import gzip
import math
from pathlib import Path

LAT0, LON0 = 60.0, 25.0
STEP_M = 100.0
DLAT = STEP_M / 111_195.0
DLON = STEP_M / (111_195.0 * math.cos(math.radians(LAT0)))


def node_ll(i: int, j: int) -> tuple[float, float]:
    """(lat, lon) of grid node column i (west->east), row j (south->north)."""
    return LAT0 + j * DLAT, LON0 + i * DLON


POIS = [  # (id, name, tag key, value, lat offset m, lon offset m) relative to grid origin
    (9001, "Cafe Aalto", "amenity", "cafe", 30.0, 140.0),
    (9002, "Kirjasto", "amenity", "library", 160.0, 60.0),
    (9003, "Ruokakauppa", "shop", "supermarket", 215.0, 250.0),
    (9004, "Apteekki", "amenity", "pharmacy", 80.0, 20.0),
    (9005, "Baari", "amenity", "bar", 120.0, 180.0),
]


def _ll(dn_m: float, de_m: float) -> tuple[float, float]:
    return LAT0 + dn_m / 111_195.0, LON0 + de_m / (111_195.0 * math.cos(math.radians(LAT0)))


def town_xml(with_streets: bool = True) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="ugdata-tests">']
    nid = {}
    for j in range(4):
        for i in range(4):
            k = 1000 + j * 10 + i
            nid[(i, j)] = k
            lat, lon = node_ll(i, j)
            out.append(f'<node id="{k}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for pid, name, key, val, dn, de in POIS:
        lat, lon = _ll(dn, de)
        out.append(f'<node id="{pid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">'
                   f'<tag k="{key}" v="{val}"/><tag k="name" v="{name}"/></node>')
    # park polygon nodes and building nodes
    poly_id = 5000
    polys = {"park": [(110, 110), (110, 190), (190, 190), (190, 110)],
             "b1": [(5, 5), (5, 45), (30, 45), (30, 5)], "b2": [(205, 205), (205, 260), (240, 260), (240, 205)]}
    poly_nodes = {}
    for name, pts in polys.items():
        ids = []
        for dn, de in pts:
            lat, lon = _ll(dn, de)
            out.append(f'<node id="{poly_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
            ids.append(poly_id)
            poly_id += 1
        poly_nodes[name] = ids
    wid = 100
    if with_streets:
        for j in range(4):
            refs = "".join(f'<nd ref="{nid[(i, j)]}"/>' for i in range(4))
            out.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/>'
                       f'<tag k="name" v="Rivi {j}"/></way>')
            wid += 1
        for i in range(4):
            refs = "".join(f'<nd ref="{nid[(i, j)]}"/>' for j in range(4))
            cls = "primary" if i == 1 else "residential"
            out.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="{cls}"/>'
                       f'<tag k="name" v="Katu {i}"/><tag k="lanes" v="{4 if i == 1 else 2}"/></way>')
            wid += 1
    for name, ids in poly_nodes.items():
        refs = "".join(f'<nd ref="{k}"/>' for k in ids + ids[:1])
        tags = ('<tag k="leisure" v="park"/><tag k="name" v="Puisto"/>' if name == "park"
                else '<tag k="building" v="yes"/><tag k="building:levels" v="4"/>')
        out.append(f'<way id="{wid}" version="1">{refs}{tags}</way>')
        wid += 1
    out.append("</osm>")
    return "\n".join(out) + "\n"


def write_town(folder: Path, name: str = "town", compression: str = "", with_streets: bool = True) -> Path:
    text = town_xml(with_streets).encode()
    if compression == "bz2":
        p = folder / f"{name}.osm.bz2"
        p.write_bytes(bz2.compress(text))
    elif compression == "gz":
        p = folder / f"{name}.osm.gz"
        p.write_bytes(gzip.compress(text, mtime=0))
    else:
        p = folder / f"{name}.osm"
        p.write_bytes(text)
    return p


def shifted_town(folder: Path, name: str, dlat: float) -> Path:
    """The same town moved north by dlat degrees (a second 'city' for held-out-city tests); ids offset."""
    text = town_xml()
    import re

    def shift(m):
        return f'lat="{float(m.group(1)) + dlat:.7f}"'

    text = re.sub(r'lat="([0-9.]+)"', shift, text)
    p = folder / f"{name}.osm"
    p.write_text(text)
    return p
