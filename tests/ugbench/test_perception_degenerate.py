"""Perception probes on degenerate features: a model that embeds every item the same scores at chance.

Before the fix, a text-only model on the image-only perception items (all-zero or all-equal vectors) got
Spearman -0.49 / -0.55 on the mock data: each fold's probe predicted its training folds' mean, and those
means are anti-correlated with the held-out values. Chance is Spearman 0, R^2 0, pairwise accuracy 0.5.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from ugbench.evaluation import evaluate
from ugbench.runners.perception import degenerate
from ugcore.protocol import ModelMeta
from ugdata.testing import reseal


class ConstantModel:
    """Every item gets the same non-zero vector (like a text encoder fed the empty string)."""

    def __init__(self, value: float = 0.3):
        self.value = value
        self.meta = ModelMeta(name=f"constant-{value}", revision="t", embed_dim=8, modalities=["text"])

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        return np.full((len(items), 8), self.value, dtype=np.float32)


def _perception(model, data, out):
    (r,) = evaluate(model, data, tasks=["perception_osm"], output=out, cache_dir=None, show_progress=False,
                    console=Console(quiet=True))
    return r["scores"]


@pytest.fixture()
def data_with_classes(mock_data, tmp_path):
    """The mock data plus a classification target whose majority share is known (3 of 4 rows 'low')."""
    d = tmp_path / "ugd"
    shutil.copytree(mock_data, d)
    tdir = d / "tasks" / "perception_osm"
    t = pd.read_parquet(tdir / "targets.parquet")
    t["landuse"] = np.where(np.arange(len(t)) % 4 == 0, "high", "low")
    t.to_parquet(tdir / "targets.parquet")
    spec = json.loads((tdir / "task.json").read_text())
    spec["extra"]["attributes"] = [*spec["extra"]["attributes"], "landuse"]
    (tdir / "task.json").write_text(json.dumps(spec))
    return reseal(d)  # declared as built content (evaluate refuses data edited after its build)


@pytest.mark.parametrize("model", ["bm25", ConstantModel(0.3), ConstantModel(0.0)], ids=["bm25", "const", "zero"])
def test_degenerate_features_score_at_chance(model, data_with_classes, tmp_path):
    scores = _perception(model, data_with_classes, tmp_path / "out")
    targets = pd.read_parquet(data_with_classes / "tasks" / "perception_osm" / "targets.parquet")
    assert set(scores) == {"val", "test"}
    for split, sc in scores.items():
        assert sc["degenerate_features"] is True
        assert sc["spearman"] == 0.0 and sc["main_score"] == 0.0
        assert sc["r2"] == pytest.approx(0.0, abs=1e-12)
        assert sc["pairwise_accuracy"] == 0.5  # every pair is a predicted tie
        labels = targets.loc[targets.split == split, "landuse"]
        assert sc["targets"]["landuse"]["accuracy"] == pytest.approx(labels.value_counts(normalize=True).max())
        for v in sc["targets"].values():
            assert all(np.isfinite(x) for k, x in v.items() if k != "ci95")
            assert all(np.isfinite(lohi).all() for lohi in v["ci95"].values())  # its intervals (issue 14)


def test_informative_features_are_probed(data_with_classes, tmp_path, custom_module):
    """A model that sees the images is not flagged, and its probe tracks greenery (mean colour's green)."""
    scores = _perception(f"{custom_module}:instance", data_with_classes, tmp_path / "out")
    for sc in scores.values():
        assert "degenerate_features" not in sc
        assert sc["targets"]["greenery"]["spearman"] > 0.5


def test_degenerate_detection():
    rng = np.random.default_rng(0)
    assert degenerate(np.zeros((5, 3)))
    assert degenerate(np.full((5, 3), 7.0) + rng.normal(0, 1e-9, (5, 3)))  # float noise only
    assert degenerate(np.ones((1, 3)))
    assert not degenerate(rng.normal(size=(5, 3)))
    x = np.ones((5, 3))
    x[2, 1] = 1.5  # one informative coordinate is enough
    assert not degenerate(x)
