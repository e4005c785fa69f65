"""The pruning bounds hold: every cluster / tree node bound is >= the true best score inside it.

Queries include the stored vectors themselves (the adversarial case for Cauchy-Schwarz style bounds)."""

from __future__ import annotations

import numpy as np
import pytest

from ugbench.search.cocluster import sim_upper_bounds
from ugbench.search.gmrtree import _intervals


def _queries(idx, rng, n=30):
    qs = [idx.vectors[rng.integers(idx.n)].astype(np.float64) for _ in range(n // 2)]
    qs += [v / np.linalg.norm(v) for v in rng.normal(size=(n - n // 2, idx.dim))]
    return qs


@pytest.mark.parametrize("dataset", ["clustered", "uniform"])
def test_cocluster_sim_bound(indexes, dataset):
    idx = indexes[(dataset, "euclidean")]
    cc = idx.cc
    rng = np.random.default_rng(0)
    tight = []
    for q in _queries(idx, rng):
        qt = q @ cc.basis
        q_r = float(np.sqrt(max(0.0, 1.0 - qt @ qt))) + 1e-6
        ub = sim_upper_bounds(cc, qt, q_r)
        sims = idx.vectors.astype(np.float64) @ q
        true_max = np.maximum.reduceat(sims, cc.start[:-1])
        assert (ub >= true_max - 1e-6).all()
        tight.append(np.median(ub - true_max))
    assert np.median(tight) < 1.0  # and it is not the trivial bound


@pytest.mark.parametrize("dataset", ["clustered", "uniform"])
def test_object_prefix_bound(indexes, dataset):
    idx = indexes[(dataset, "haversine")]
    cc = idx.cc
    rng = np.random.default_rng(1)
    for q in _queries(idx, rng):
        qt = q @ cc.basis
        q_r = float(np.sqrt(max(0.0, 1.0 - qt @ qt)))
        ub = cc.prefix.astype(np.float64) @ qt + q_r * cc.resid
        assert (ub >= idx.vectors.astype(np.float64) @ q - 1e-6).all()


@pytest.mark.parametrize("dataset", ["clustered", "uniform"])
def test_gmr_signature_bound(indexes, dataset):
    idx = indexes[(dataset, "euclidean")]
    t = idx.gmr
    rng = np.random.default_rng(2)
    lo, hi = _intervals(t, t.sig[0])
    seg = t.leaf_start[:-1]
    for q in _queries(idx, rng):
        qt = q @ t.basis
        q_r = float(np.sqrt(max(0.0, 1.0 - qt @ qt)))
        ub = np.maximum(qt * lo, qt * hi).sum(axis=1) + q_r * t.r_max
        sims = idx.vectors[t.leaf_rows].astype(np.float64) @ q
        assert (ub >= np.maximum.reduceat(sims, seg) - 1e-6).all()


def test_signatures_are_or_of_children(indexes):
    t = indexes[("clustered", "euclidean")].gmr
    for level in range(1, len(t.sig)):
        cs, ci = t.child_start[level], t.child_idx[level]
        for node in range(len(t.sig[level])):
            kids = t.sig[level - 1][ci[cs[node] : cs[node + 1]]]
            assert (np.bitwise_or.reduce(kids, axis=0) == t.sig[level][node]).all()
            assert (t.lo[level][node] <= t.lo[level - 1][ci[cs[node] : cs[node + 1]]]).all()
