"""Issue 14: every score carries a seeded 95% bootstrap interval over queries; `ugbench compare` pairs two models
over the same queries (per-query values in <task>.perquery.parquet)."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from ugbench.evaluation import evaluate
from ugbench.stats import bootstrap_ci, paired_strata_test, paired_test
from ugcore.errors import UserError

QUIET = {"cache_dir": None, "show_progress": False, "console": Console(quiet=True)}


def test_bootstrap_ci_is_seeded_and_sized():
    rng = np.random.default_rng(3)
    v = (rng.random(400) < 0.5).astype(float)
    a = bootstrap_ci({"hit@1": v}, seed=0, keys=("t", "test"))
    assert a == bootstrap_ci({"hit@1": v}, seed=0, keys=("t", "test"))  # same inputs, same interval
    assert a != bootstrap_ci({"hit@1": v}, seed=1, keys=("t", "test"))
    lo, hi = a["hit@1"]
    assert lo < v.mean() < hi
    assert abs((hi - lo) / 2 - 1.96 * np.sqrt(0.25 / 400)) < 0.01  # the normal approximation's +-.049
    assert bootstrap_ci({"mrr": np.array([0.3])}, seed=0) == {"mrr": [0.3, 0.3]}
    med = bootstrap_ci({"median_error_m": np.arange(101.0)}, seed=0, medians=("median_error_m",))
    assert med["median_error_m"][0] < 50 < med["median_error_m"][1]


def test_paired_tests():
    rng = np.random.default_rng(0)
    a = rng.random(300)
    same = paired_test(a, a, seed=0)
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0] and same["p_value"] == 1.0
    far = paired_test(a + 0.1, a, seed=0)
    assert far["difference"] == pytest.approx(0.1) and far["p_value"] < 0.001 and far["ci95"][0] > 0.09
    b = a + rng.normal(0, 0.3, 300)
    assert paired_test(b, a, seed=0) == paired_test(b, a, seed=0)
    assert 0.05 < paired_test(b, a, seed=0)["p_value"] <= 1  # noise only
    fam = paired_strata_test([np.full(10, 0.2), np.full(1000, 0.0)], seed=0)  # tasks weigh equally, not queries
    assert fam["difference"] == pytest.approx(0.1)


def _check_intervals(scores: dict, where: str) -> int:
    n = 0
    for metric, (lo, hi) in scores["ci95"].items():
        assert lo <= scores[metric] + 1e-12 and scores[metric] <= hi + 1e-12, (where, metric)
        n += 1
    return n


def test_every_score_has_an_interval_and_per_query_values(chance_data, tmp_path):
    docs = evaluate("random", chance_data, tasks=["geoloc_rank", "retrieval_image2image_global", "perception_osm"],
                    output=tmp_path, **QUIET)
    for doc in docs:
        name = doc["task"]["name"]
        for split, sc in doc["scores"].items():
            # every measured score; `chance` is a fact of the data (ugbench.chance), not a measurement
            numeric = {k for k, v in sc.items() if isinstance(v, float) and k not in ("main_score", "chance")}
            assert numeric <= set(sc["ci95"]), (name, numeric - set(sc["ci95"]))
            _check_intervals(sc, f"{name}/{split}")
            assert doc["task"]["main_score"] in sc["ci95"]
            for t, sub in sc.get("targets", {}).items():
                assert set(sub["ci95"]) == {k for k in sub if k != "ci95"}
                _check_intervals(sub, f"{name}/{split}/{t}")
        pq = pd.read_parquet(tmp_path / "random" / f"{name}.perquery.parquet")
        main = doc["task"]["main_score"]
        if main in pq.columns:  # ranking: the score is the mean of the per-query values
            for split, sc in doc["scores"].items():
                got = pq.loc[pq["split"] == split, main]
                assert len(got) == sc["n_queries"] and got.mean() == pytest.approx(sc["main_score"], abs=1e-12)
        else:  # the probe: per-pair values of pairwise_accuracy
            for split, sc in doc["scores"].items():
                assert pq.loc[pq["split"] == split, "pairwise_accuracy"].mean() == pytest.approx(
                    sc["pairwise_accuracy"], abs=1e-12)
    again = evaluate("random", chance_data, tasks=["geoloc_rank", "perception_osm"], output=tmp_path / "again",
                     **QUIET)
    assert [d["scores"] for d in again] == [d["scores"] for d in docs if d["task"]["name"] != docs[1]["task"]["name"]]
    md = (tmp_path / "random" / "summary.md").read_text()
    assert "95% CI" in md and "| geoloc_rank | geolocation | test | hit@1 |" in md


def _cli(capsys, monkeypatch, *args) -> str:
    from ugbench.cli import main

    monkeypatch.setattr(sys, "argv", ["ugbench", *args])
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), capsys.readouterr()
    return capsys.readouterr().out


def test_compare(mock_data, tmp_path, capsys, monkeypatch):
    tasks = ["geoloc_rank", "retrieval_image2image", "grounding_nearest_poi", "perception_osm"]
    evaluate("bm25", mock_data, tasks=tasks, output=tmp_path, **QUIET)
    evaluate("random", mock_data, tasks=tasks, output=tmp_path, **QUIET)
    out = tmp_path / "cmp.json"
    text = _cli(capsys, monkeypatch, "compare", str(tmp_path / "bm25"), str(tmp_path / "random"), "--output", str(out))
    assert "per task" in text and "per family" in text and "perception_osm: not compared" in text
    doc = json.loads(out.read_text())
    assert {r["task"] for r in doc["tasks"]} == set(tasks) - {"perception_osm"}
    assert "perception_osm" in doc["skipped"]
    for r in doc["tasks"]:
        a = json.loads((tmp_path / "bm25" / f"{r['task']}.json").read_text())["scores"][r["split"]]["main_score"]
        b = json.loads((tmp_path / "random" / f"{r['task']}.json").read_text())["scores"][r["split"]]["main_score"]
        assert r["difference"] == pytest.approx(a - b, abs=1e-12)
        assert r["ci95"][0] <= r["difference"] <= r["ci95"][1] and 0 < r["p_value"] <= 1
    fam = {(f["family"], f["split"]): f for f in doc["families"]}
    ret = [r["difference"] for r in doc["tasks"] if r["family"] == "grounding" and r["split"] == "test"]
    assert fam[("grounding", "test")]["difference"] == pytest.approx(np.mean(ret))
    _cli(capsys, monkeypatch, "compare", str(tmp_path / "bm25"), str(tmp_path / "random"), "--output", str(out))
    assert json.loads(out.read_text()) == doc  # seeded
    self_cmp = _cli(capsys, monkeypatch, "compare", str(tmp_path / "random"), str(tmp_path / "random"), "-o",
                    str(tmp_path / "self.json"))
    assert "+0.0000" in self_cmp
    assert all(r["p_value"] == 1.0 for r in json.loads((tmp_path / "self.json").read_text())["tasks"])

    other = tmp_path / "other" / "random"
    shutil.copytree(tmp_path / "random", other)
    p = other / "geoloc_rank.json"
    d = json.loads(p.read_text())
    d["provenance"]["dataset_fingerprint"] = "sha256:" + "0" * 64
    p.write_text(json.dumps(d))
    from ugbench.compare import compare

    with pytest.raises(UserError, match="different data") as e:
        compare(tmp_path / "bm25", other)
    assert "\n" not in str(e.value)
    (other / "geoloc_rank.perquery.parquet").unlink()
    d["provenance"]["dataset_fingerprint"] = json.loads((tmp_path / "bm25" / "geoloc_rank.json").read_text())[
        "provenance"]["dataset_fingerprint"]
    p.write_text(json.dumps(d))
    assert "re-run" in compare(tmp_path / "bm25", other)["skipped"]["geoloc_rank"]
