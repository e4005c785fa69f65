"""Golden-file test of the results format (structure and key names, not numbers), plus the CLI listings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ugbench.evaluation import evaluate

GOLDEN = Path(__file__).parent / "golden" / "results_structure.json"


def shape(obj, depth=0):
    """Keys and value types of a JSON document; dict levels below `scores.<split>` keep their key names."""
    if isinstance(obj, dict):
        return {k: shape(v, depth + 1) for k, v in sorted(obj.items())}
    if isinstance(obj, list):
        return "list"
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, (int, float)):
        return "number"
    return "null" if obj is None else "str"


def _structure(doc: dict) -> dict:
    out = {k: sorted(doc[k]) if isinstance(doc[k], dict) else shape(doc[k]) for k in sorted(doc)}
    out["task"] = shape(doc["task"])
    out["model"] = {"name": "str", "revision": "str", "metadata": sorted(doc["model"]["metadata"])}
    # values may be null (git_commit outside a git checkout): only the key names are the format
    out["provenance"] = {k: ("dict" if isinstance(v, dict) else "value") for k, v in doc["provenance"].items()}
    out["scores"] = {split: shape(v) for split, v in doc["scores"].items()}
    return out


def test_results_match_golden_structure(mock_data, tmp_path):
    from rich.console import Console

    results = evaluate("random", mock_data, tasks=["geoloc_rank", "perception_osm"], output=tmp_path,
                       cache_dir=None, show_progress=False, console=Console(quiet=True))
    got = {r["task"]["name"]: _structure(json.loads((tmp_path / "random" / f"{r['task']['name']}.json").read_text()))
           for r in results}
    if os.environ.get("UGBENCH_UPDATE_GOLDEN"):  # after a deliberate format change: rewrite, review, commit
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text()), "results format changed; see UGBENCH_UPDATE_GOLDEN"
    md = (tmp_path / "random" / "summary.md").read_text()
    assert md.startswith("# UGBench results: random") and "| geoloc_rank | geolocation | test | hit@1 |" in md


def _cli(capsys, monkeypatch, *args):
    from ugbench.cli import main

    monkeypatch.setattr(sys, "argv", ["ugbench", *args])
    try:
        main()
    except SystemExit as e:
        assert e.code == 0
    return capsys.readouterr().out


def test_list_tasks_and_models(capsys, monkeypatch):
    out = json.loads(_cli(capsys, monkeypatch, "list-tasks", "--json"))
    by = {t["name"]: t for t in out}
    assert by["geoloc_rank"]["main_score"] == "hit@1" and by["geoloc_rank_graph"]["with_graph"] is True
    assert by["retrieval_image2image_global"]["protocol"] == "global"
    assert by["perception_osm"]["data_task"] == "perception_osm"
    table = _cli(capsys, monkeypatch, "list-models")
    for name in ("random", "bm25", "geo-prior", "minilm", "hf-dual-encoder", "custom", "checkpoint"):
        assert name in table


def test_python_api(mock_data, tmp_path):
    import ugbench

    (doc,) = ugbench.evaluate("random", mock_data, tasks=["geoloc"], output=tmp_path, cache_dir=None,
                              show_progress=False)
    assert doc["task"]["name"] == "geoloc_rank"  # an alias resolves to its task
    assert (tmp_path / "random" / "geoloc_rank.json").is_file() and (tmp_path / "random" / "summary.md").is_file()
