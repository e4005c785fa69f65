"""Indexes survive a save/load round trip and refuse to be overwritten by accident."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ugbench.search.index import GeoIndex
from ugcore.errors import UserError


def test_save_load_round_trip(indexes, tmp_path):
    idx = indexes[("clustered", "haversine")]
    idx.save(tmp_path / "ix")
    back = GeoIndex.load(tmp_path / "ix")
    assert json.loads((tmp_path / "ix" / "header.json").read_text())["n"] == idx.n
    rng = np.random.default_rng(2)
    for _ in range(8):
        xy = idx.coords[rng.integers(idx.n)]
        q = rng.normal(size=idx.dim)
        for engine in ("ours", "gmr", "rtree", "brute"):
            a = idx.search(xy, q, 7, 0.6, engine=engine)
            b = back.search(xy, q, 7, 0.6, engine=engine)
            assert np.array_equal(a.indices, b.indices)
            assert np.array_equal(a.scores, b.scores)
    with pytest.raises(UserError, match="already exists"):
        idx.save(tmp_path / "ix")
    idx.save(tmp_path / "ix", overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_object_ids_kept(tmp_path):
    rng = np.random.default_rng(0)
    idx = GeoIndex.build(rng.uniform(0, 1, (20, 2)), rng.normal(size=(20, 4)), object_ids=[f"o{i}" for i in range(20)])
    idx.save(tmp_path / "ix")
    res = GeoIndex.load(tmp_path / "ix").search((0.5, 0.5), rng.normal(size=4), k=3)
    assert res.object_ids == [f"o{i}" for i in res.indices]


def test_bad_inputs_are_user_errors(indexes, tmp_path):
    idx = indexes[("uniform", "euclidean")]
    with pytest.raises(UserError, match="dimension"):
        idx.search((0, 0), np.ones(idx.dim + 1))
    with pytest.raises(UserError, match="mu"):
        idx.search((0, 0), np.ones(idx.dim), mu=1.5)
    with pytest.raises(UserError, match="k must"):
        idx.search((0, 0), np.ones(idx.dim), k=0)
    with pytest.raises(UserError, match="zero vector"):
        idx.search((0, 0), np.zeros(idx.dim))
    with pytest.raises(UserError, match="not a search index"):
        GeoIndex.load(tmp_path)
    with pytest.raises(UserError, match="latitude"):
        GeoIndex.build(np.array([[0.0, 95.0]]), np.ones((1, 3)), metric="haversine")
    with pytest.raises(UserError, match="row 1"):
        GeoIndex.build(np.array([[0.0, 1.0], [np.nan, 1.0]]), np.ones((2, 3)))
