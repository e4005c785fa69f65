"""The compiled (numba) query path, the numpy batch path and the int8 stage each return exactly the
brute-force top-k; the int8 error bound and the compiled d_max hold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_exactness import random_queries

from ugbench.search.cocluster import cocluster_search, compiled_d_max, quantize_int8
from ugbench.search.kernels import cluster_bounds, quantize_rows
from ugcore.geo import EARTH_RADIUS_M


def _unit(q):
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q)


@pytest.mark.parametrize("metric", ["euclidean", "haversine"])
@pytest.mark.parametrize("dataset", ["clustered", "ties", "uniform"])
@pytest.mark.parametrize("variant", ["numba", "numba-no-int8", "numpy"])
def test_implementations_equal_brute_force(indexes, dataset, metric, variant):
    idx = indexes[(dataset, metric)]
    cc = idx.cc
    if variant == "numba-no-int8":  # an index saved before the int8 codes existed
        cc = dataclasses.replace(cc, codes=None, cscale=None, cerr=None)
    impl = "numpy" if variant == "numpy" else "numba"
    rng = np.random.default_rng(abs(hash((dataset, metric, variant))) % 2**32)
    full = []
    for xy, q in random_queries(idx, rng, 18):
        mu = float(rng.choice([0.0, 1.0, 0.2, 0.8, rng.random()]))
        k = int(rng.choice([1, 3, 10, 37]))
        ref = idx.search(xy, q, k, mu, engine="brute")
        stats: dict = {}
        q_xy, q_vec = idx._check_query(xy, q)  # the query exactly as GeoIndex.search normalises it
        got_ids, got_sc = cocluster_search(
            cc, idx.space, idx.vectors, idx.ids, q_xy, q_vec, k, mu, stats=stats, impl=impl
        )
        assert np.array_equal(got_ids, ref.indices), (variant, mu, k, xy)
        np.testing.assert_allclose(got_sc, ref.scores, rtol=0, atol=1e-9)
        full.append(stats["objects_scored"])
    assert min(full) < idx.n  # the bounds prune, so the equality exercises them


def test_int8_stage_prunes_full_vectors(indexes):
    """With codes, fewer full vectors are read than without, for the same (exact) result."""
    idx = indexes[("clustered", "euclidean")]
    plain = dataclasses.replace(idx.cc, codes=None, cscale=None, cerr=None)
    rng = np.random.default_rng(4)
    with_codes = without = 0
    for xy, q in random_queries(idx, rng, 12):
        a: dict = {}
        b: dict = {}
        ra = cocluster_search(idx.cc, idx.space, idx.vectors, idx.ids, np.asarray(xy), _unit(q), 10, 0.3, stats=a)
        rb = cocluster_search(plain, idx.space, idx.vectors, idx.ids, np.asarray(xy), _unit(q), 10, 0.3, stats=b)
        assert np.array_equal(ra[0], rb[0])
        with_codes += a["objects_scored"]
        without += b["objects_scored"]
        assert a["objects_int8"] > 0 and b["objects_int8"] == 0
    assert with_codes < without


def test_int8_error_bound():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 96)).astype(np.float32)
    v[3] = 0.0
    v[4, :] = 0.0
    v[4, 7] = -2.5  # one large entry: the scale is set by it
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)
    codes, scale, err = quantize_int8(v)
    c2, s2, e2 = quantize_rows(v)
    assert np.array_equal(codes, c2) and np.array_equal(scale, s2)
    np.testing.assert_allclose(err, e2, rtol=1e-12, atol=0)
    resid = v.astype(np.float64) - scale[:, None] * codes.astype(np.float64)
    assert (np.linalg.norm(resid, axis=1) <= err).all()
    assert np.median(err) < 0.05  # far tighter than the prefix bound's residual term
    q = _unit(rng.normal(size=96))
    assert (scale * (codes @ q) + err >= v.astype(np.float64) @ q).all()


def test_compiled_d_max_and_cluster_bounds(indexes):
    for (_, metric), idx in indexes.items():
        cc = idx.cc
        rng = np.random.default_rng(6)
        for xy, q in random_queries(idx, rng, 9):
            xy = np.asarray(xy, float)
            qe = idx.space.embed_query(xy)
            qt = cc.basis.T @ _unit(q)
            qn = float(np.linalg.norm(qt))
            q_r = float(np.sqrt(max(0.0, 1.0 - qt @ qt))) + 1e-6
            near, far, sim = cluster_bounds(
                cc.lo, cc.hi, qe, cc.centroids, qt / qn, qn, cc.cos_t, cc.sin_t, cc.pmax, cc.pmin, cc.rmax,
                q_r, metric == "haversine", EARTH_RADIUS_M,
            )
            dist = idx.space.distances(xy)
            assert compiled_d_max(cc, idx.space, xy, qe, far) == dist.max()  # bit for bit
            seg = cc.start[:-1]
            assert (near <= np.minimum.reduceat(dist, seg)).all()
            sims = idx.vectors.astype(np.float64) @ _unit(q)
            assert (sim >= np.maximum.reduceat(sims, seg) - 1e-6).all()  # as test_bounds


def test_unknown_impl_is_rejected(indexes):
    idx = indexes[("uniform", "euclidean")]
    with pytest.raises(ValueError, match="impl"):
        cocluster_search(idx.cc, idx.space, idx.vectors, idx.ids, idx.coords[0], _unit(idx.vectors[0]), 3, 0.5, impl="x")
