"""Issue 14: `--save-predictions` writes each ranking task's run + qrels (TREC) and each probe's predictions, and
ranx recomputes every ranking metric of a real run from them.

ranx sorts a run by score, so its numbers equal ugbench's exactly only for a run without tied scores (the
random model's float embeddings); with ties ugbench reports the expected value over the tied orderings
(ugcore/ranking.py) and ranx the value of the one order its sort leaves."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from rich.console import Console

from ugbench.evaluation import evaluate

TASKS = ["geoloc_rank", "retrieval_image2image", "retrieval_image2image_global", "perception_osm"]


def test_ranx_recomputes_ranking_metrics(chance_data, tmp_path):
    ranx = pytest.importorskip("ranx")
    docs = evaluate("random", chance_data, tasks=TASKS, output=tmp_path, cache_dir=None, show_progress=False,
                    console=Console(quiet=True), save_predictions=True)
    checked = 0
    for doc in docs:
        name = doc["task"]["name"]
        folder = tmp_path / "random" / "predictions" / name
        for split, sc in doc["scores"].items():
            if doc["task"]["family"] == "perception":
                df = pd.read_csv(folder / f"{split}.csv")
                assert set(df.columns) == {"image_id", "target", "fold", "y_true", "y_pred"}
                assert df["image_id"].nunique() == sc["n_items"]
                continue
            run = ranx.Run.from_file(str(folder / f"{split}.run"), kind="trec")
            qrels = ranx.Qrels.from_file(str(folder / f"{split}.qrels"), kind="trec")
            assert len(qrels.keys()) == sc["n_queries"]
            for qid, ranked in run.to_dict().items():  # a tie-free run, as the cross-check needs
                scores = list(ranked.values())
                assert len(set(scores)) == len(scores), (name, qid)
            metrics = {m: m.replace("hit@", "hit_rate@") for m in sc if m.startswith(("hit@", "recall@"))}
            metrics.update({"mrr": "mrr", "ndcg@10": "ndcg@10"})
            got = ranx.evaluate(qrels, run, list(metrics.values()), make_comparable=True)
            for ours, theirs in metrics.items():
                assert got[theirs] == pytest.approx(sc[ours], abs=1e-9), (name, split, ours)
                checked += 1
            lines = (folder / f"{split}.run").read_text().split("\n", 2)
            assert lines[0].split()[1] == "Q0" and lines[0].split()[3] == "1" and lines[0].split()[5] == "ugbench"
    assert checked >= 3 * 2 * 10


def test_cli_flag(mock_data, tmp_path, monkeypatch):
    from ugbench.cli import main

    monkeypatch.setattr(sys, "argv", ["ugbench", "evaluate", "-m", "bm25", "-d", str(mock_data), "-t", "geoloc_rank",
                                      "-o", str(tmp_path), "--no-cache", "-q", "--save-predictions"])
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None)
    folder = tmp_path / "bm25" / "predictions" / "geoloc_rank"
    assert sorted(p.name for p in folder.iterdir()) == ["test.qrels", "test.run", "val.qrels", "val.run"]
