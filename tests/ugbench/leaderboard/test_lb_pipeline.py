"""The real pipeline on ugbench's mock UGData: declare the benchmark from the task registry and the data's
fingerprint, compute a baseline with `ugbench evaluate` (harness API), submit it, and drive the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ugbench.leaderboard import load_benchmark, load_leaderboard
from ugbench.leaderboard.baselines import run_baselines
from ugbench.leaderboard.benchmark import declare, tasks_for_data, write_benchmark
from ugbench.leaderboard.models import json_schema
from ugbench.leaderboard.verify import verify
from ugbench.results_schema import TaskResult

REPO = Path(__file__).resolve().parents[3]
TASKS = ("geoloc_rank", "retrieval_image2image", "grounding_nearest_poi")  # three families


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    import ugdata
    from ugbench.testing import build_mock_ugdata

    tmp = tmp_path_factory.mktemp("pipeline")
    data = build_mock_ugdata(tmp / "data")
    ud = ugdata.load(data)
    available = tasks_for_data(ud)
    spec = declare(name="ugbench", version="0.1", dataset_name="mock", fingerprint=ud.fingerprint,
                   tasks=[available[t] for t in TASKS])
    lb = tmp / "lb" / "ugbench.json"
    write_benchmark(spec, lb.parent / "ugbench.benchmark.json")
    # the `random` baseline as an object: skips importing every adapter through the registry
    from ugbench.models.random_baseline import RandomEncoder

    entries = run_baselines(data=data, out=tmp / "results", leaderboard=lb, models=[RandomEncoder(dim=64, seed=0)],
                            cache_dir=None, log=lambda _m: None, show_progress=False)
    return tmp, data, lb, entries


def test_baseline_entry_matches_the_harness_results(pipeline):
    tmp, data, lb, entries = pipeline
    [entry] = entries
    board = load_leaderboard(lb)
    assert [e.model.name for e in board.entries] == [entry.model.name]
    model_dir = tmp / "results" / Path(entry.source.path).name
    results = {p.stem: TaskResult.model_validate_json(p.read_text()) for p in model_dir.glob("*.json")
               if p.name != "summary.json"}
    assert sorted(results) == sorted(TASKS)
    values = {t: results[t].scores["test"]["main_score"] for t in TASKS}
    assert {t: s.value for t, s in entry.scores.items()} == values
    assert math.isclose(entry.aggregates.mean_over_tasks, float(np.mean(list(values.values()))), rel_tol=1e-12)
    fam = {"geolocation": values["geoloc_rank"], "retrieval": values["retrieval_image2image"],
           "grounding": values["grounding_nearest_poi"]}
    assert math.isclose(entry.aggregates.mean_over_families, float(np.mean(list(fam.values()))), rel_tol=1e-12)
    # the entry states the data it ran on
    assert entry.data.fingerprints == {"mock": results["geoloc_rank"].provenance.dataset_fingerprint}
    assert entry.data.dataset_paths == [data.name]  # published without the local path
    assert any("summary.json" in s for s in entry.source.ignored_files)
    # the per-query sidecars (issue 14) are listed, never read as results
    assert any("geoloc_rank.perquery.parquet" in s for s in entry.source.ignored_files)


def test_cli_submit_lists_problems_and_exits_non_zero(pipeline):
    tmp, data, lb, entries = pipeline
    before = lb.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "ugbench", "submit", str(tmp / "results"), "--leaderboard", str(lb)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: submission rejected: 1 problem(s) found")
    assert "pass --replace" in lines[1] and "Traceback" not in proc.stderr
    assert lb.read_bytes() == before


def test_cli_replace_render_validate_and_schema(pipeline):
    from ugbench.cli import app

    tmp, data, lb, entries = pipeline
    runner = CliRunner()
    res = runner.invoke(app, ["submit", str(tmp / "results"), "--leaderboard", str(lb), "--replace"])
    assert res.exit_code == 0, res.output
    assert "(replaced)" in res.output
    board = load_leaderboard(lb)
    assert len(board.entries) == 1 and board.entries[0].replaced == [entries[0].submitted_at]
    res = runner.invoke(app, ["leaderboard", "render", "--leaderboard", str(lb), "--out", str(tmp / "site")])
    assert res.exit_code == 0, res.output
    assert (tmp / "site" / "index.html").is_file() and (tmp / "site" / "leaderboard.md").is_file()
    res = runner.invoke(app, ["leaderboard", "validate", "--leaderboard", str(lb)])
    assert res.exit_code == 0 and "valid" in res.output
    res = runner.invoke(app, ["leaderboard", "schema", "--out", str(tmp / "schema.json")])
    assert res.exit_code == 0
    assert json.loads((tmp / "schema.json").read_text()) == json.loads(json.dumps(json_schema()))


def test_published_schema_is_current_and_shipped_files_follow_it():
    """leaderboards/leaderboard.schema.json is exactly the schema generated from the pydantic model, so the
    model's validation (used for every shipped leaderboard here) is the published schema's."""
    published = json.loads((REPO / "leaderboards" / "leaderboard.schema.json").read_text())
    assert published == json.loads(json.dumps(json_schema())), \
        "regenerate it: ugbench leaderboard schema --out leaderboards/leaderboard.schema.json"
    shipped = [p for p in sorted((REPO / "leaderboards").glob("*.json"))
               if not p.name.endswith((".schema.json", ".benchmark.json"))]
    for p in shipped:
        assert verify(load_leaderboard(p)) == [], p
    for p in sorted((REPO / "leaderboards").glob("*.benchmark.json")):
        load_benchmark(p)
