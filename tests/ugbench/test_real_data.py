"""End to end on a real UGData built from the embedded city, with the real MiniLM on the text-side tasks."""

from __future__ import annotations

import json

import numpy as np

from ugbench.evaluation import evaluate
from ugbench.results_schema import TaskResult
from ugbench.tasks.registry import tasks_for_data
from ugdata.format import load


def test_minilm_on_small_build(small_ugdata, tmp_path):
    from rich.console import Console

    ud = load(small_ugdata)
    expected = {m.name for m in tasks_for_data(ud.task_names())}
    quiet = Console(quiet=True)
    # every task the data supports, with the random baseline (cheap); then MiniLM on the text-side tasks
    everything = evaluate("random", small_ugdata, tasks="all", output=tmp_path / "out", cache_dir=None,
                          show_progress=False, console=quiet)
    assert {n for n in expected if not n.endswith("_graph")} <= {r["task"]["name"] for r in everything}
    text_side = ["geoloc_rank", "geoloc_rank_graph", "grounding_nearest_poi", "grounding_distance_direction",
                 "retrieval_caption2image", "retrieval_path2image_global"]
    results = evaluate("minilm", small_ugdata, tasks=text_side, output=tmp_path / "out",
                       cache_dir=tmp_path / "cache", show_progress=False, console=quiet)
    names = {r["task"]["name"] for r in results}
    assert names == set(text_side)
    by = {r["task"]["name"]: TaskResult.model_validate(r) for r in results}
    for name, r in by.items():
        spec = ud.task_spec(r.task.data_task)
        assert r.provenance.dataset_fingerprint == ud.fingerprint and r.provenance.zero_shot
        assert r.model.metadata["embed_dim"] == 384 and r.model.name == "all-MiniLM-L6-v2"
        for side, inst in r.instructions.items():  # the instruction recorded is the data's
            assert inst == (spec.instructions.get(side) or None), (name, side)
        assert all(np.isfinite(s["main_score"]) for s in r.scores.values())
    geo = by["geoloc_rank"].scores
    assert all({"median_error_m", "acc@50m", "acc@5000m"} <= set(s) for s in geo.values())
    q = json.loads((tmp_path / "out" / "all-MiniLM-L6-v2" / "summary.json").read_text())
    assert {r["task"] for r in q["results"]} == names
    again = evaluate("minilm", small_ugdata, tasks=sorted(names), output=tmp_path / "again",
                     cache_dir=tmp_path / "cache", show_progress=False, console=quiet)
    assert {r["task"]["name"]: r["scores"] for r in again} == {r["task"]["name"]: r["scores"] for r in results}
