"""Spatial splits: no leakage, buffer rejects reported with reasons, held-out-city mode."""

from __future__ import annotations

import numpy as np
import pandas as pd
from haversine import Unit, haversine_vector

import ugdata
from ugdata.splits import assign_splits


def _min_cross_distance(v: pd.DataFrame, a: str, b: str) -> float:
    A = v[v.split == a][["lat", "lon"]].to_numpy()
    B = v[v.split == b][["lat", "lon"]].to_numpy()
    if not len(A) or not len(B):
        return np.inf
    return float(haversine_vector(A, B, Unit.METERS, comb=True).min())


def test_no_leakage_in_small_build(small_dir):
    d = ugdata.load(small_dir)
    v = d.views()
    buf = d.manifest["config"]["buffer_m"]
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert _min_cross_distance(v, a, b) >= buf


def test_buffer_rejects_are_reported():
    rng = np.random.default_rng(0)
    n = 400
    views = pd.DataFrame({"lat": 60.0 + rng.uniform(0, 0.01, n), "lon": 25.0 + rng.uniform(0, 0.02, n),
                          "city": "x", "image_id": [f"i{i}" for i in range(n)]})
    split, blocked = assign_splits(views, seed=1, block_m=150, buffer_m=40)
    assert len(blocked) > 0 and blocked.reason.str.contains("spatial split buffer").all()
    kept = views.drop(index=blocked.index).assign(split=split.drop(index=blocked.index))
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert _min_cross_distance(kept, a, b) >= 40
    assert set(kept.split) == {"train", "val", "test"}
    # deterministic in the seed, different across seeds
    split2, _ = assign_splits(views, seed=1, block_m=150, buffer_m=40)
    split3, _ = assign_splits(views, seed=2, block_m=150, buffer_m=40)
    assert split.equals(split2) and not split.equals(split3)


def test_rejects_csv_lists_buffered_rows(town_dir):
    d = ugdata.load(town_dir)
    rej = pd.read_csv(town_dir / "rejects.csv")
    sp = rej[rej.stage == "split"]
    assert len(sp) == d.manifest["counts"]["rejected"] - (rej.stage != "split").sum()
    assert not set(sp.image_id) & set(d.views().image_id)


def test_holdout_city(tmp_path):
    from ugdata_town import shifted_town, write_town

    from ugdata.build import build_ugdata
    from ugdata.check import check_dir

    a = write_town(tmp_path, "alpha")
    b = shifted_town(tmp_path, "beta", 0.05)
    out = build_ugdata(tmp_path / "o", osm=[str(a), str(b)], holdout_city="beta", synth=40, render=False,
                       block_m=100, buffer_m=20, graphml=False)
    d = ugdata.load(out)
    v = d.views()
    assert set(v[v.city == "beta"].split) == {"test"}
    assert set(v[v.city == "alpha"].split) <= {"train", "val"} and "train" in set(v[v.city == "alpha"].split)
    assert d.manifest["cities"] == ["alpha", "beta"]
    assert check_dir(out)[0] == []
    # nodes of both cities, ids kept apart
    assert {n.split("/")[1] for n in d.nodes.node_id if not n.startswith("image/")} == {"alpha", "beta"}
