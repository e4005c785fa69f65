"""Every exact engine returns exactly the brute-force top-k (ids, and scores to 1e-6), and brute force
agrees with a naive float64 implementation of the paper's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from ugbench.search.cocluster import box_dist_bounds, cluster_d_max
from ugbench.search.index import GeoIndex
from ugcore.geo import haversine_m


def naive_scores(coords, vecs, metric, q_xy, q_vec, mu):
    """F for all objects straight from eqs. 3-7 (independent of ugbench.search's code paths)."""
    if metric == "haversine":
        d = haversine_m(q_xy[1], q_xy[0], coords[:, 1], coords[:, 0])
    else:
        d = np.hypot(coords[:, 0] - q_xy[0], coords[:, 1] - q_xy[1])
    dst = 1 - d / d.max() if d.max() > 0 else np.ones_like(d)
    v = vecs.astype(np.float64)
    sim = v @ q_vec / (np.linalg.norm(v, axis=1) * np.linalg.norm(q_vec))
    return mu * dst + (1 - mu) * sim


def random_queries(idx: GeoIndex, rng, n: int):
    lo, hi = idx.coords.min(axis=0), idx.coords.max(axis=0)
    span = np.maximum(hi - lo, 1e-3)
    out = []
    for i in range(n):
        if i % 3 == 0:  # on an object (ties on distance 0)
            xy = idx.coords[rng.integers(idx.n)]
        elif i % 3 == 1:  # inside the area
            xy = lo + rng.random(2) * span
        else:  # outside the area
            xy = lo - span + rng.random(2) * 3 * span
        q = idx.vectors[rng.integers(idx.n)] if rng.random() < 0.3 else rng.normal(size=idx.dim)
        out.append((xy, q))
    return out


@pytest.mark.parametrize("metric", ["euclidean", "haversine"])
@pytest.mark.parametrize("dataset", ["clustered", "ties", "uniform"])
def test_engines_equal_brute_force(indexes, dataset, metric):
    idx = indexes[(dataset, metric)]
    rng = np.random.default_rng(hash((dataset, metric)) % 2**32)
    queries = random_queries(idx, rng, 24)
    scored = {"ours": [], "gmr": [], "rtree": []}
    for xy, q in queries:
        mu = float(rng.choice([0.0, 1.0, rng.random()]))
        k = int(rng.choice([1, 5, 10, 37]))
        ref = idx.search(xy, q, k, mu, engine="brute")
        assert len(ref.indices) == k
        for engine in ("ours", "gmr", "rtree"):
            got = idx.search(xy, q, k, mu, engine=engine)
            scored[engine].append(got.stats["objects_scored"])
            assert np.array_equal(got.indices, ref.indices), (engine, mu, k, xy)
            np.testing.assert_allclose(got.scores, ref.scores, rtol=0, atol=1e-6)
        # brute force itself against the naive formulas, in original object order
        orig_xy = idx.coords[np.argsort(idx.ids)]
        orig_v = idx.vectors[np.argsort(idx.ids)]
        f = naive_scores(orig_xy, orig_v, metric, np.asarray(xy, float), np.asarray(q, float), mu)
        np.testing.assert_allclose(np.sort(f)[::-1][:k], ref.scores, atol=1e-6)
        np.testing.assert_allclose(f[ref.indices], ref.scores, atol=1e-6)
    # the bounds really prune (so the equality above exercises them)
    for engine, counts in scored.items():
        assert min(counts) < idx.n, engine


def test_ties_go_to_lower_index(indexes):
    idx = indexes[("ties", "euclidean")]
    rng = np.random.default_rng(3)
    for _ in range(10):
        xy = idx.coords[rng.integers(idx.n)]
        q = idx.vectors[rng.integers(idx.n)]
        for engine in ("brute", "ours", "gmr"):
            res = idx.search(xy, q, 25, 0.5, engine=engine)
            # duplicates: equal scores must come in increasing index order
            for a in range(len(res.scores) - 1):
                if res.scores[a] == res.scores[a + 1]:
                    assert res.indices[a] < res.indices[a + 1]
        assert (np.diff(res.scores) <= 0).all()
    # the data really has exact ties
    res = idx.search(idx.coords[0], idx.vectors[0], 5, 0.5)
    assert res.scores[0] == res.scores[1]


def test_k_larger_than_n_returns_everything_ranked():
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 1, size=(7, 2))
    vecs = rng.normal(size=(7, 5))
    idx = GeoIndex.build(coords, vecs, metric="euclidean", leaf_size=2)
    for engine in ("ours", "ours-approx", "gmr", "rtree", "brute"):
        res = idx.search((0.5, 0.5), rng.normal(size=5), k=50, mu=0.3, engine=engine)
        assert sorted(res.indices.tolist()) == list(range(7))
        assert (np.diff(res.scores) <= 0).all()


def test_single_object_and_all_on_query_point():
    idx = GeoIndex.build(np.array([[1.0, 2.0]] * 3), np.eye(3), metric="euclidean")
    res = idx.search((1.0, 2.0), [0, 1, 0], k=3, mu=0.5)
    # d_max = 0: Dst = 1 for all; Sim decides, then the index
    assert res.indices.tolist() == [1, 0, 2]
    np.testing.assert_allclose(res.scores, [1.0, 0.5, 0.5])


def test_batched_brute_force_equals_single(indexes):
    idx = indexes[("clustered", "haversine")]
    rng = np.random.default_rng(5)
    qs = random_queries(idx, rng, 12)
    batch = idx.search_brute_batch([a for a, _ in qs], [b for _, b in qs], k=10, mu=0.4)
    for (xy, q), b in zip(qs, batch, strict=True):
        s = idx.search(xy, q, 10, 0.4, engine="brute")
        assert np.array_equal(s.indices, b.indices)


def test_dmax_is_exact(indexes):
    for (_, metric), idx in indexes.items():
        rng = np.random.default_rng(1)
        for xy, _ in random_queries(idx, rng, 9):
            xy = np.asarray(xy, float)
            truth = idx.space.distances(xy).max()
            assert idx.space.d_max(xy) == truth
            # the co-cluster engine's own branch and bound over its cluster boxes: the same value, bit for bit
            _, ub = box_dist_bounds(idx.cc, idx.space, idx.space.embed_query(xy))
            assert cluster_d_max(idx.cc, idx.space, xy, ub) == truth
        if metric == "haversine":  # a query on the other side of the Earth
            far = np.array([idx.coords[0, 0] - 179.0, -idx.coords[0, 1]])
            assert idx.space.d_max(far) == idx.space.distances(far).max()


def test_approximate_mode_guarantee(indexes):
    """ours-approx: every object left out scores at most the returned k-th score + slack."""
    idx = indexes[("clustered", "euclidean")]
    rng = np.random.default_rng(11)
    hits = total = 0
    for xy, q in random_queries(idx, rng, 15):
        ref = idx.search(xy, q, 10, 0.5, engine="brute")
        got = idx.search(xy, q, 10, 0.5, engine="ours-approx", slack=0.05)
        f_all = idx.search(xy, q, idx.n, 0.5, engine="brute")
        missed = np.setdiff1d(f_all.indices, got.indices)
        score_of = dict(zip(f_all.indices.tolist(), f_all.scores.tolist(), strict=True))
        assert max(score_of[i] for i in missed[:50]) <= got.scores[-1] + 0.05 + 1e-9
        hits += len(np.intersect1d(ref.indices, got.indices))
        total += 10
    assert hits / total > 0.5
