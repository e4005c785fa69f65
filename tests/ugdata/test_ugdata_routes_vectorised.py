"""The batched route finder (one dijkstra tree per source, vectorised predecessor walk) gives the same
routes as networkx on random pairs of real street points, point to point."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from ugdata.anchor import anchor_points, sample_street_points
from ugdata.osm_source import load_osm
from ugdata.routes import find_routes, format_routes, pick_route_pairs_grouped
from ugdata.splits import local_xy
from ugdata.streets import build_street_layer
from ugdata.testing import SMALL_CLIP


@pytest.fixture(scope="module")
def street_points():
    data = load_osm(None, clip=SMALL_CLIP)
    layer = build_street_layer(data.graph)
    pts = sample_street_points(layer, 400, 7)
    a = anchor_points(layer, pts.lon, pts.lat, 25.0)
    G = nx.Graph()
    for u, v, w in zip(layer.segs.u_idx, layer.segs.v_idx, np.maximum(layer.segs.length_m, 0.01), strict=True):
        if u != v and (not G.has_edge(u, v) or G.edges[u, v]["w"] > w):
            G.add_edge(int(u), int(v), w=float(w))
    return data, layer, pts, a, G


def _reference(layer, G, a, s: int, d: int) -> float:
    """Shortest point-to-point route length by networkx: best of the four segment-end combinations, or
    straight along the segment when both points lie on the same one."""
    L = layer.segs.length_m.to_numpy()
    U, V = layer.segs.u_idx.to_numpy(), layer.segs.v_idx.to_numpy()
    ss, ds = a.seg[s], a.seg[d]
    best = abs(a.t_m[s] - a.t_m[d]) if ss == ds else math.inf
    for e_node, e_off in ((U[ss], a.t_m[s]), (V[ss], L[ss] - a.t_m[s])):
        if e_node not in G:
            continue
        dist = nx.single_source_dijkstra_path_length(G, int(e_node), weight="w")
        for f_node, f_off in ((U[ds], a.t_m[d]), (V[ds], L[ds] - a.t_m[d])):
            if int(f_node) in dist:
                best = min(best, max(e_off, 1e-6) + dist[int(f_node)] + f_off)
    return best


def test_find_routes_matches_networkx_on_random_pairs(street_points):
    data, layer, pts, a, G = street_points
    rng = np.random.default_rng(3)
    src = rng.integers(0, len(pts), 150)
    dst = rng.integers(0, len(pts), 150)
    rp = find_routes(layer, a.seg, a.t_m, src, dst, limit_m=1e9, chunk=16)  # small chunks: several dijkstra calls
    assert rp.found.all()  # the clipped area is one connected street network
    U, V = layer.segs.u_idx.to_numpy(), layer.segs.v_idx.to_numpy()
    for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
        assert rp.total_m[i] == pytest.approx(_reference(layer, G, a, s, d), abs=1e-5)
        path = rp.node_path(i).tolist()
        if rp.direct[i]:
            assert path == [] and a.seg[s] == a.seg[d]
            continue
        # a walk in the street graph, leaving by the chosen end of the source segment and arriving by the
        # chosen end of the destination segment, as short as networkx's shortest path between those ends
        assert path[0] == (V if rp.e_src[i] else U)[a.seg[s]]
        assert path[-1] == (V if rp.f_dst[i] else U)[a.seg[d]]
        assert all(G.has_edge(x, y) for x, y in zip(path[:-1], path[1:], strict=True))
        inner = nx.path_weight(G, path, "w") if len(path) > 1 else 0.0
        assert inner == pytest.approx(nx.shortest_path_length(G, path[0], path[-1], weight="w"), abs=1e-6)


def test_find_routes_respects_limit(street_points):
    data, layer, pts, a, G = street_points
    rng = np.random.default_rng(5)
    src, dst = rng.integers(0, len(pts), 80), rng.integers(0, len(pts), 80)
    full = find_routes(layer, a.seg, a.t_m, src, dst, limit_m=1e9)
    cut = find_routes(layer, a.seg, a.t_m, src, dst, limit_m=300.0)
    assert (cut.found == (full.total_m <= 300.0)).all()
    assert cut.found.any() and not cut.found.all()
    both = cut.found
    assert np.allclose(cut.total_m[both], full.total_m[both])
    # two passes (short search first, the rest again to the full limit) give exactly the one-pass routes
    two = find_routes(layer, a.seg, a.t_m, src, dst, limit_m=1e9, first_limit_m=250.0, chunk=8)
    assert 0 < (full.total_m <= 250.0).sum() < len(src)  # both passes are exercised
    for name in ("found", "direct", "total_m", "e_src", "f_dst"):
        assert np.array_equal(getattr(two, name), getattr(full, name)), name
    assert all(np.array_equal(two.node_path(i), full.node_path(i)) for i in range(len(src)))


def test_grouped_pairs_and_formatting(street_points):
    data, layer, pts, a, G = street_points
    p = pd.DataFrame({"image_id": pts.point.astype(str), "lat": pts.lat, "lon": pts.lon,
                      "split": np.where(np.arange(len(pts)) % 3 == 0, "test", "train"), "city": data.city})
    pairs = pick_route_pairs_grouped(p, seed=1, n_sources=12, per_source=8, min_m=100, max_m=400)
    assert pairs.groupby("src").size().max() <= 8 and pairs.src.nunique() >= 6
    assert not pairs.duplicated().any()
    assert (p.split.to_numpy()[pairs.src] == p.split.to_numpy()[pairs.dst]).all()
    xy = local_xy(p.lat, p.lon, float(p.lat.mean()), float(p.lon.mean()))
    d = np.hypot(*(xy[pairs.src.to_numpy()] - xy[pairs.dst.to_numpy()]).T)
    assert ((d >= 100) & (d <= 400)).all()
    src, dst = pairs.src.to_numpy(), pairs.dst.to_numpy()
    rp = find_routes(layer, a.seg, a.t_m, src, dst, limit_m=2000)
    res = format_routes(layer, data.city, rp, a.seg, a.t_m, pts.lon.to_numpy(), pts.lat.to_numpy(), src, dst)
    osm = layer.nodes.osmid.to_numpy()
    for i, r in enumerate(res):
        assert (r is None) == (not rp.found[i])
        if r is None:
            continue
        assert r["node_ids"] == [f"intersection/{data.city}/{int(osm[n])}" for n in rp.node_path(i)]
        assert abs(sum(s["length_m"] for s in r["steps"]) - r["total_m"]) < 1e-6
        assert abs(r["total_m"] - rp.total_m[i]) < 0.06 * len(r["steps"])  # step lengths rounded to 1 cm
        assert r["steps"][0]["turn"] == "start"
        # consecutive steps on one named street are merged
        assert all(not (x["street"] and x["street"] == y["street"]) for x, y in zip(r["steps"][:-1], r["steps"][1:], strict=True))
