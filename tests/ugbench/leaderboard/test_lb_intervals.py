"""Intervals on the leaderboard and distinguishable neighbouring ranks (issue #14).

Entries carry each task's 95% interval from the results; means get the conservative interval (the tasks'
bounds averaged alike); each rank is compared with the next by a paired test over the same queries when the
results folders are given to render, else by interval overlap; older benchmark versions are history. Real
results: random, bm25 and the session's hash model on a mock UGData (seconds on a CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_checks import run_cli
from lb_helpers import make_spec, random_scores, write_results

from ugbench.leaderboard import load_leaderboard, render, submit
from ugbench.leaderboard.benchmark import declare, registry_tasks, write_benchmark
from ugbench.leaderboard.distinguish import aggregate_intervals, neighbour_tests, task_weights
from ugbench.leaderboard.render import page_data, ranked_entries

RANKING = ("retrieval_caption2image", "retrieval_image2image", "geoloc_rank")
PROBE = "perception_osm"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, custom_module):
    import ugdata
    from ugbench.evaluation import evaluate
    from ugbench.testing import build_mock_ugdata

    tmp = tmp_path_factory.mktemp("lbci")
    data = build_mock_ugdata(tmp / "ugdata", n_places=40, n_candidates=10, seed=5)
    for model in ("random", "bm25", f"{custom_module}:make_model"):
        evaluate(model, data, tasks=",".join((*RANKING, PROBE)), output=tmp / "results", cache_dir=None,
                 show_progress=False)
    return tmp, ugdata.load(data).fingerprint


def _board(src: Path, dest: Path, fingerprint: str, tasks: tuple[str, ...], name: str) -> Path:
    """A leaderboard under dest/name of the three models' results (copied from src) on the declared tasks."""
    reg = registry_tasks()
    assert reg is not None
    folder = dest / name
    folder.mkdir()
    spec = declare(name="ugbench", version="2.0", dataset_name="mock", fingerprint=fingerprint,
                   tasks=[reg[t] for t in tasks], build="build_mock_ugdata")
    write_benchmark(spec, folder / "ugbench.benchmark.json", overwrite=True)
    results = folder / "results"
    results.mkdir()
    for model in ("random", "bm25", "hash-model"):  # only the declared tasks: a complete entry per model
        (results / model).mkdir()
        for t in tasks:
            for suffix in (".json", ".perquery.parquet"):
                shutil.copy(src / "results" / model / f"{t}{suffix}", results / model / f"{t}{suffix}")
    submit(results, folder / "ugbench.json")
    return folder


def test_entries_carry_each_tasks_interval_and_means_get_the_averaged_bounds(evaluated, tmp_path):
    tmp, fp = evaluated
    folder = _board(tmp, tmp_path, fp, (*RANKING, PROBE), "b")
    lb = load_leaderboard(folder / "ugbench.json")
    for e in lb.entries:
        for t, s in e.scores.items():
            doc = json.loads((folder / "results" / e.source.path / f"{t}.json").read_text())
            assert s.ci95 == doc["scores"]["test"]["ci95"][s.metric]
        iv = aggregate_intervals(lb.benchmark, e)
        w = task_weights(lb.benchmark)
        lo = sum(w[t] * e.scores[t].ci95[0] for t in w)
        hi = sum(w[t] * e.scores[t].ci95[1] for t in w)
        assert iv["mean_over_families"] == pytest.approx([lo, hi])
        assert iv["mean_over_families"][0] <= e.aggregates.mean_over_families <= iv["mean_over_families"][1]
        assert iv["per_family"]["perception"] == pytest.approx(e.scores[PROBE].ci95)


def test_neighbours_without_results_are_judged_by_interval_overlap(evaluated, tmp_path):
    tmp, fp = evaluated
    lb = load_leaderboard(_board(tmp, tmp_path, fp, (*RANKING, PROBE), "b") / "ugbench.json")
    data = page_data(lb)
    tests = [e["vs_next"] for e in data["entries"]]
    assert tests[-1] is None and all(t is not None and t["method"] == "overlap" for t in tests[:-1])
    for e, nxt, t in zip(data["entries"], data["entries"][1:], tests, strict=False):
        a, b = e["intervals"]["mean_over_families"], nxt["intervals"]["mean_over_families"]
        assert t["distinguishable"] == (a[0] > b[1] or b[0] > a[1]) and t["next_model"] == nxt["model"]


def test_neighbours_with_results_get_a_paired_test_over_the_same_queries(evaluated, tmp_path):
    tmp, fp = evaluated
    folder = _board(tmp, tmp_path, fp, RANKING, "ranking-only")
    lb = load_leaderboard(folder / "ugbench.json")
    ranked = ranked_entries(lb)
    tests = neighbour_tests(lb.benchmark, ranked, results=[folder / "results"])
    assert tests[-1] is None
    for a, b, t in zip(ranked, ranked[1:], tests, strict=False):
        assert t is not None and t.method == "paired" and t.n_paired_tasks == len(RANKING)
        assert t.difference == pytest.approx(a.aggregates.mean_over_families - b.aggregates.mean_over_families)
        assert t.ci95[0] <= t.difference <= t.ci95[1] and 0 < t.p_value <= 1
        assert t.distinguishable == (t.ci95[0] > 0 or t.ci95[1] < 0)
    # the hash model finds the same place's other view every time (i2i); random does not: told apart
    assert ranked[0].model.name == "hash-model" and tests[0].distinguishable
    md, page = render(lb, tmp_path / "site", results=[folder / "results"])
    text = md.read_text()
    assert "yes (paired)" in text and " ±" in text
    data = json.loads(page.read_text().split('id="lb-data">')[1].split("</script>")[0])
    assert data["entries"][0]["vs_next"]["method"] == "paired" and data["entries"][0]["vs_next"]["p_value"] > 0


def test_a_probe_task_is_added_by_its_intervals_and_a_twin_is_indistinguishable(evaluated, tmp_path):
    tmp, fp = evaluated
    folder = _board(tmp, tmp_path, fp, (*RANKING, PROBE), "with-probe")
    lb = load_leaderboard(folder / "ugbench.json")
    ranked = ranked_entries(lb)
    tests = neighbour_tests(lb.benchmark, ranked, results=[folder / "results"])
    assert all(t.method == "paired+intervals" and t.n_paired_tasks == len(RANKING) and PROBE in t.note
               and t.p_value is None for t in tests[:-1])
    # a model compared with an exact copy of itself: difference 0, never distinguishable
    twin = ranked[0].model_copy(deep=True)
    twin.model.name += "-twin"
    t = neighbour_tests(lb.benchmark, [ranked[0], twin], results=[folder / "results"])[0]
    assert t.method == "paired+intervals" and t.difference == 0 and not t.distinguishable


def test_per_query_files_of_other_numbers_are_not_used(evaluated, tmp_path):
    """A results folder whose files differ from what the entry recorded (SHA-256) is not that entry's: the
    pair falls back to interval overlap."""
    tmp, fp = evaluated
    folder = _board(tmp, tmp_path, fp, RANKING, "tampered")
    lb = load_leaderboard(folder / "ugbench.json")
    ranked = ranked_entries(lb)
    p = folder / "results" / ranked[1].source.path / f"{RANKING[0]}.json"
    p.write_text(p.read_text() + " ")
    tests = neighbour_tests(lb.benchmark, ranked, results=[folder / "results"])
    assert [t.method for t in tests[:-1]] == ["overlap", "overlap"]


def test_older_versions_are_listed_as_history(tmp_path):
    lb_path = tmp_path / "ugbench.json"
    old = make_spec(tmp_path / "ugbench.benchmark.json", version="1.3")
    write_results(tmp_path / "old", old, "veteran", random_scores(1))
    submit(tmp_path / "old", lb_path)
    spec = make_spec(tmp_path / "ugbench.benchmark.json", version="2.0")
    write_results(tmp_path / "new", spec, "newcomer", random_scores(2), ci=0.02)
    submit(tmp_path / "new", lb_path)
    lb = load_leaderboard(lb_path)
    data = page_data(lb)
    assert [e["model"] for e in data["entries"]] == ["newcomer"]
    assert [(h["model"], h["benchmark_version"]) for h in data["history"]] == [("veteran", "1.3")]
    md, _ = render(lb, tmp_path / "site")
    text = md.read_text()
    assert "History (older benchmark versions" in text and "- ugbench 1.3: veteran (r1)" in text


def test_render_results_folder_missing_is_one_line(capsys, monkeypatch, tmp_path):
    lb_path = tmp_path / "ugbench.json"
    spec = make_spec(tmp_path / "ugbench.benchmark.json")
    write_results(tmp_path / "res", spec, "m", random_scores(3))
    submit(tmp_path / "res", lb_path)
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", "leaderboard", "render", "--leaderboard", lb_path,
                           "--out", tmp_path / "site", "--results", tmp_path / "nope")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--results" in err and "is not a folder" in err
