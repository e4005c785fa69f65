"""Small synthetic geo-multimedia corpora for the search tests (built in-process, no shared data)."""

from __future__ import annotations

import numpy as np
import pytest

from ugbench.search.index import GeoIndex
from ugbench.search.synth import make_corpus


def _uniform(seed: int, n: int = 1500, dim: int = 32):
    rng = np.random.default_rng(seed)
    coords = np.stack([rng.uniform(24.90, 24.98, n), rng.uniform(60.15, 60.19, n)], axis=1)
    return coords, rng.normal(size=(n, dim)).astype(np.float32)


def _clustered(seed: int, n: int = 2000, dim: int = 48):
    c = make_corpus(n, dim, 0, n_topics=6, n_hotspots=12, extent_km=8.0, seed=seed)
    return c.coords, c.vectors


def _with_ties(seed: int, n: int = 1200, dim: int = 16):
    """Exact duplicates (same place and vector), shared places and shared vectors: ties everywhere."""
    rng = np.random.default_rng(seed)
    base_xy = np.stack([rng.uniform(10.0, 10.05, 60), rng.uniform(50.0, 50.03, 60)], axis=1)
    base_v = rng.normal(size=(40, dim)).astype(np.float32)
    coords = base_xy[rng.integers(0, 60, n)]
    vecs = base_v[rng.integers(0, 40, n)]
    return coords, vecs


DATASETS = {"uniform": _uniform, "clustered": _clustered, "ties": _with_ties}


@pytest.fixture(scope="session")
def indexes():
    """One index per (dataset, metric), built once for the whole session."""
    out = {}
    for name, make in DATASETS.items():
        coords, vecs = make(7)
        for metric in ("euclidean", "haversine"):
            out[(name, metric)] = GeoIndex.build(
                coords, vecs, metric=metric, leaf_size=16, prefix_dims=8, gmr_fanout=4, gmr_dims=8, seed=1
            )
    return out
