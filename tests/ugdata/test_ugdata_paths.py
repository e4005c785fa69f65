"""Reasoning paths are walks in the graph with correct totals; routes are walks in the street network."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from haversine import Unit, haversine

import ugdata
from ugcore.geo import compass8


def test_reasoning_paths_are_walks(small_dir):
    d = ugdata.load(small_dir)
    nodes = d.nodes.set_index("node_id")
    e = d.edges
    fwd = set(zip(e.src, e.dst, e.rel, strict=True))
    paths = d.paths
    assert len(paths) > 0 and paths.hops.between(1, 3).all()
    assert paths.groupby("image_id").size().max() <= 10
    for r in paths.itertuples():
        assert r.node_ids[0] == f"image/{r.image_id}"
        assert len(r.node_ids) == r.hops + 1 == len(r.rels) + 1
        assert len(set(r.node_ids)) == len(r.node_ids)  # no revisits
        total = 0.0
        for a, b, rel, dist, bear in zip(r.node_ids[:-1], r.node_ids[1:], r.rels, r.distances_m, r.bearings_deg, strict=True):
            base = rel[:-3] if rel.endswith("_of") else rel
            assert (a, b, base) in fwd or (b, a, base) in fwd
            pa, pb = nodes.loc[a], nodes.loc[b]
            ref = haversine((pa.lat, pa.lon), (pb.lat, pb.lon), unit=Unit.METERS)
            assert abs(ref - dist) < 0.01
            total += dist
            assert f"({dist:.1f}m, {bear % 360:.0f}°({compass8(bear)}))" in r.text
        assert math.isclose(total, r.total_m, abs_tol=1e-6)
        assert r.text.count(" -> ") == r.hops - 1
        # intermediate nodes are never other images
        assert all(not n.startswith("image/") for n in r.node_ids[1:])


def test_paths_sampled_per_s2_cell(small_dir):
    import s2sphere

    d = ugdata.load(small_dir)
    v = d.views()
    with_paths = v[v.paths.map(len) > 0]
    cells = defaultdict(int)
    for r in with_paths.itertuples():
        cells[s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(r.lat, r.lon)).parent(18).id()] += 1
    assert max(cells.values()) <= 3
    # views with paths in the dataset equal the path table
    assert set(with_paths.image_id) == set(d.paths.image_id)


def test_routes_are_street_walks(small_dir):
    d = ugdata.load(small_dir)
    routes = d.routes
    assert len(routes) > 5
    e = d.edges
    con = e[e.rel == "connects"]
    # street-node adjacency through street segments
    seg_ends = con.groupby("src").dst.apply(list)
    adj = defaultdict(set)
    for ends in seg_ends:
        if len(ends) == 2:
            adj[ends[0]].add(ends[1])
            adj[ends[1]].add(ends[0])
    views = d.views().set_index("image_id")
    for r in routes.itertuples():
        ids = list(r.node_ids)
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            assert b in adj[a], (r.route_id, a, b)
        lengths = [s["length_m"] for s in r.steps]
        assert abs(sum(lengths) - r.total_m) < 0.05
        assert r.steps[0]["turn"] == "start"
        assert all(s["turn"] in {"left", "right", "straight", "u-turn"} for s in r.steps[1:])
        a, b = views.loc[r.src_image_id], views.loc[r.dst_image_id]
        crow = haversine((a.lat, a.lon), (b.lat, b.lon), unit=Unit.METERS)
        assert r.total_m >= crow - 15.0  # a street route cannot beat the straight line (lane offsets aside)
        assert a.split == b.split == r.split
        assert f"arrive after {round(r.total_m):d} m" in r.text


def test_route_lengths_match_networkx(small_dir):
    """Batched csgraph shortest paths agree with networkx on the same street graph."""
    import networkx as nx

    d = ugdata.load(small_dir)
    e = d.edges
    con = e[e.rel == "connects"]
    import json

    seg_len = {r.node_id: json.loads(r.attrs)["length_m"] for r in d.nodes[d.nodes.type == "street"].itertuples()}
    G = nx.Graph()
    for s, ends in con.groupby("src").dst.apply(list).items():
        if len(ends) == 2:
            w = seg_len[s]
            if not G.has_edge(*ends) or G.edges[ends]["w"] > w:
                G.add_edge(ends[0], ends[1], w=w)
    for r in d.routes.itertuples():
        ids = list(r.node_ids)
        if len(ids) < 2:
            continue
        inner = sum(G.edges[a, b]["w"] for a, b in zip(ids[:-1], ids[1:], strict=True))
        best = nx.shortest_path_length(G, ids[0], ids[-1], weight="w")
        assert inner <= best + 0.05 * max(1.0, len(ids))  # lengths in attrs are rounded to 1 cm
        assert np.isfinite(inner)


def test_vectorised_s2_matches_s2sphere():
    import s2sphere

    from ugdata.paths import s2_cells

    rng = np.random.default_rng(0)
    lat = np.r_[rng.uniform(-89.9, 89.9, 3000), 60.17, 49.25, 0.0, -33.9, 90.0, -90.0]
    lon = np.r_[rng.uniform(-180, 180, 3000), 24.94, -123.1, 0.0, 151.2, 0.0, 180.0]
    ref = [s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(a, b)).parent(18).id()
           for a, b in zip(lat, lon, strict=True)]
    assert s2_cells(lat, lon).tolist() == ref
