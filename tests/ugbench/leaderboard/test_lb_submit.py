"""Submission: validation of every file, provenance, completeness, recomputed aggregates, duplicates."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from lb_helpers import (
    FINGERPRINT,
    GEO,
    PERC,
    RET_A,
    RET_B,
    TASKS,
    edit_json,
    make_spec,
    random_scores,
    write_results,
)

from ugbench.leaderboard import SubmissionRejected, load_leaderboard, submit
from ugbench.leaderboard.benchmark import check_against_registry
from ugbench.leaderboard.verify import verify
from ugcore.errors import UserError


@pytest.fixture
def env(tmp_path):
    lb = tmp_path / "lb" / "ugbench.json"
    lb.parent.mkdir()
    spec = make_spec(lb.parent / "ugbench.benchmark.json")
    return tmp_path, lb, spec


def independent_aggregates(spec, scores: dict[str, float]) -> tuple[float, float, dict[str, float]]:
    df = pd.DataFrame([{"task": t.name, "family": t.family, "v": scores[t.name]} for t in spec.tasks])
    fam = df.groupby("family")["v"].mean()
    return float(np.mean(df["v"])), float(np.mean(fam.values)), {k: float(v) for k, v in fam.items()}


def test_complete_submission_recomputes_aggregates_and_records_source(env):
    tmp, lb, spec = env
    scores = random_scores(1)
    d = write_results(tmp / "res", spec, "model-a", scores)
    (d / "summary.json").write_text(json.dumps({"mean": 0.999, "model": "model-a"}))  # a forged aggregate
    [entry] = submit(d, lb)
    board = load_leaderboard(lb)
    assert [e.model.name for e in board.entries] == ["model-a"]
    e = board.entries[0]
    mean_tasks, mean_fams, per_fam = independent_aggregates(spec, scores)
    assert math.isclose(e.aggregates.mean_over_tasks, mean_tasks, rel_tol=1e-12)
    assert math.isclose(e.aggregates.mean_over_families, mean_fams, rel_tol=1e-12)
    assert mean_tasks != pytest.approx(mean_fams)  # the two means are genuinely different computations
    for f, v in per_fam.items():
        assert math.isclose(e.aggregates.per_family[f], v, rel_tol=1e-12)
    assert {t: s.value for t, s in e.scores.items()} == scores
    assert not e.partial and e.zero_shot and e.benchmark_version == spec.version
    assert e.data.fingerprints == {"helsinki": FINGERPRINT}
    assert e.source.results_git_commits == ["deadbeef"]
    hashes = {f.path: f.sha256 for f in e.source.files}
    for t in TASKS:
        p = d / f"{t}.json"
        assert hashes[p.name] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert any("summary.json" in s for s in e.source.ignored_files)
    assert e.submitted_at and entry.submitted_at == e.submitted_at
    assert verify(board) == []


def test_folder_of_model_folders_lands_each_model(env):
    tmp, lb, spec = env
    for i, name in enumerate(["m1", "m2", "m3"]):
        write_results(tmp / "res", spec, name, random_scores(10 + i))
    entries = submit(tmp / "res", lb)
    assert sorted(e.model.name for e in entries) == ["m1", "m2", "m3"]
    assert len(load_leaderboard(lb).entries) == 3


def test_partial_needs_flag_and_has_no_overall_means(env):
    tmp, lb, spec = env
    scores = random_scores(2)
    del scores[RET_B]
    d = write_results(tmp / "res", spec, "half", scores)
    with pytest.raises(SubmissionRejected, match=RET_B) as exc:
        submit(d, lb)
    assert "--partial" in str(exc.value)
    assert not lb.exists()
    [e] = submit(d, lb, partial=True)
    assert e.partial and e.missing_tasks == [RET_B]
    assert e.aggregates.mean_over_tasks is None and e.aggregates.mean_over_families is None
    assert e.aggregates.per_family["retrieval"] is None
    assert math.isclose(e.aggregates.per_family["geolocation"], scores[GEO])
    assert e.aggregates.n_tasks == 3 and e.aggregates.n_declared_tasks == 4


def test_duplicates_refused_unless_replace(env):
    tmp, lb, spec = env
    d1 = write_results(tmp / "a", spec, "dup", random_scores(3))
    [first] = submit(d1, lb)
    before = lb.read_bytes()
    d2 = write_results(tmp / "b", spec, "dup", random_scores(4))
    with pytest.raises(SubmissionRejected, match="--replace"):
        submit(d2, lb)
    assert lb.read_bytes() == before
    [new] = submit(d2, lb, replace=True)
    board = load_leaderboard(lb)
    assert len(board.entries) == 1 and board.entries[0].replaced == [first.submitted_at]
    assert board.entries[0].scores[PERC].value == random_scores(4)[PERC]
    d3 = write_results(tmp / "c", spec, "dup", random_scores(5), revision="r2")
    submit(d3, lb)  # another revision is another entry
    assert len(load_leaderboard(lb).entries) == 2


def test_every_problem_is_listed_and_nothing_is_written(env):
    tmp, lb, spec = env
    submit(write_results(tmp / "ok", spec, "ok", random_scores(6)), lb)
    before = lb.read_bytes()
    d = write_results(tmp / "bad", spec, "bad", random_scores(7))
    (d / f"{GEO}.json").write_text('{"schema_version": "1.0", "task": ')  # malformed
    edit_json(d / f"{RET_A}.json", lambda r: r.update(schema_version="2.0"))
    raw = (d / f"{RET_B}.json").read_text()
    (d / f"{RET_B}.json").write_text(raw.replace('"n_queries": 40', '"n_queries": NaN'))
    edit_json(d / f"{PERC}.json", lambda r: r["provenance"].update(dataset_fingerprint="sha256:other"))
    (d / "huge.json").write_bytes(b" " * (2 * 1024 * 1024))
    with pytest.raises(SubmissionRejected) as exc:
        submit(d, lb, max_file_bytes=1024 * 1024)
    msg = str(exc.value)
    first_line = msg.splitlines()[0]
    assert "rejected" in first_line and "problem" in first_line
    for needle in (f"{GEO}.json: malformed JSON", f"{RET_A}.json: schema_version '2.0'",
                   f"{RET_B}.json: holds NaN", f"{PERC}.json: computed on dataset fingerprint",
                   "huge.json: 2.1 MB is over the 1 MB limit"):
        assert needle in msg, needle
    assert len(exc.value.problems) >= 5
    assert lb.read_bytes() == before


@pytest.mark.parametrize(
    ("task", "metric", "value", "needle"),
    [
        (GEO, "hit@1", 1.5, "'hit@1' must be a fraction"),
        (GEO, "median_error_m", -3.0, "non-negative"),
        (PERC, "r2", 1.2, "R^2"),
        (PERC, "spearman", -1.5, "correlation"),
        (RET_A, "main_score", 58.85, "must be a fraction"),
    ],
)
def test_out_of_range_scores(env, task, metric, value, needle):
    tmp, lb, spec = env
    d = write_results(tmp / "res", spec, "oor", random_scores(8))
    edit_json(d / f"{task}.json", lambda r: r["scores"]["test"].update({metric: value}))
    with pytest.raises(SubmissionRejected, match="out of range") as exc:
        submit(d, lb)
    assert needle in str(exc.value)


def test_unbounded_metrics_within_their_range_are_accepted(env):
    tmp, lb, spec = env
    d = write_results(tmp / "res", spec, "geo", random_scores(9))
    edit_json(d / f"{GEO}.json", lambda r: r["scores"]["test"].update(
        {"median_error_m": 812.5, "acc@50m": 0.2, "by_qtype": {"x": {"hit@5": 0.3, "mean_error_m": 99.0}}}))
    edit_json(d / f"{PERC}.json", lambda r: r["scores"]["test"].update(
        {"r2": -0.4, "targets": {"greenery": {"r2": -2.0, "spearman": -0.1}}, "n_pairs": 12}))
    submit(d, lb)


def test_version_main_score_and_consistency_checks(env):
    tmp, lb, spec = env
    d = write_results(tmp / "res", spec, "m", random_scores(11))
    edit_json(d / f"{GEO}.json", lambda r: (r["task"].update(version="0"), r["provenance"].update(task_version="0")))
    perc_metric = make_spec().task(PERC).main_score
    edit_json(d / f"{PERC}.json", lambda r: r["scores"]["test"].update({"main_score": 0.1, perc_metric: 0.2}))
    edit_json(d / f"{RET_A}.json", lambda r: r["model"].update(name="someone-else"))
    with pytest.raises(SubmissionRejected) as exc:
        submit(d, lb)
    msg = str(exc.value)
    assert "version 0 is not the declared version" in msg
    assert f"main_score 0.1 != scores['test']['{perc_metric}'] 0.2" in msg
    assert "more than one model" in msg


def test_training_on_the_data_is_not_zero_shot(env):
    tmp, lb, spec = env
    d = write_results(tmp / "res", spec, "trained", random_scores(12),
                      training_datasets={FINGERPRINT: ["train"]})  # provenance still claims zero-shot
    [e] = submit(d, lb)
    assert not e.zero_shot and not any(s.zero_shot for s in e.scores.values())


def test_unpinned_fingerprint_and_registry_drift(env, tmp_path):
    tmp, lb, spec = env
    unpinned = make_spec(tmp_path / "u.benchmark.json", fingerprint=None)
    d = write_results(tmp / "res", unpinned, "m", random_scores(13))
    with pytest.raises(SubmissionRejected, match="has not pinned the fingerprint"):
        submit(d, lb, benchmark=tmp_path / "u.benchmark.json")
    stale = spec.model_copy(deep=True)
    stale.tasks[0].version = "0.9"
    problems = check_against_registry(stale)
    assert len(problems) == 1 and "declare a new benchmark version" in problems[0]


def test_html_in_strings_is_stored_as_given(env):
    tmp, lb, spec = env
    name = "<script>alert(1)</script>"
    d = write_results(tmp / "res", spec, name, random_scores(14), revision='"><img src=x onerror=alert(2)>')
    submit(d, lb)
    e = load_leaderboard(lb).entries[0]
    assert e.model.name == name and e.model.revision.startswith('"><img')


def test_changed_declaration_needs_a_version_bump(env):
    tmp, lb, spec = env
    submit(write_results(tmp / "a", spec, "m", random_scores(15)), lb)
    make_spec(lb.parent / "ugbench.benchmark.json", tasks=TASKS[:3])  # same version, fewer tasks
    with pytest.raises(UserError, match="needs a new benchmark version"):
        submit(write_results(tmp / "b", spec, "n", random_scores(16)), lb)
    make_spec(lb.parent / "ugbench.benchmark.json", tasks=TASKS[:3], version="1.1")
    submit(write_results(tmp / "c", spec, "n", random_scores(17)), lb)
    board = load_leaderboard(lb)
    assert [e.benchmark_version for e in board.entries] == ["1.0", "1.1"]
    assert [e.model.name for e in board.current_entries()] == ["n"]
    assert verify(board) == []


def test_verify_detects_edited_aggregates(env):
    tmp, lb, spec = env
    submit(write_results(tmp / "a", spec, "m", random_scores(18)), lb)
    edit_json(lb, lambda r: r["entries"][0]["aggregates"].update(mean_over_tasks=0.99))
    problems = verify(load_leaderboard(lb))
    assert len(problems) == 1 and "aggregates differ" in problems[0]


def test_hostile_json_shapes_are_problems_not_crashes(env):
    tmp, lb, spec = env
    d = write_results(tmp / "res", spec, "m", random_scores(19))
    (d / f"{GEO}.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / f"{RET_A}.json").write_text('["a list, not a TaskResult"]')
    (d / f"{RET_B}.json").write_bytes(b"\xff\xfe\x00garbage")
    edit_json(d / f"{PERC}.json", lambda r: r["scores"]["test"].update(hit_at={"x": [0.1, "text", {"y": 7}]}))
    with pytest.raises(SubmissionRejected) as exc:
        submit(d, lb)
    msg = str(exc.value)
    assert f"{GEO}.json: JSON nested too deeply" in msg
    assert f"{RET_A}.json: expected a JSON object" in msg
    assert f"{RET_B}.json: not UTF-8" in msg
    assert f"{PERC}.json: scores['test']['hit_at']['x'][2]['y'] = 7 is out of range" in msg
    with pytest.raises(UserError, match="is a folder"):
        submit(d, tmp)
    with pytest.raises(UserError, match="is a file, not a folder"):
        submit(d / f"{PERC}.json", lb)


def test_published_entries_carry_no_local_paths():
    """The shipped leaderboard is read on other machines: no entry names a folder of the machine that made it
    (results folder, dataset folder, training-data path), only names a reader can match."""
    from pathlib import Path

    from ugbench.leaderboard.models import public_name

    text = (Path(__file__).resolve().parents[3] / "leaderboards" / "ugbench.json").read_text()
    board = json.loads(text)
    for e in board["entries"]:
        assert not Path(e["source"]["path"]).is_absolute(), e["source"]["path"]
        assert all(not Path(p).is_absolute() for p in e["data"]["dataset_paths"])
        assert all(not Path(k).is_absolute() for k in e["model"]["training_datasets"])
    for local in ("/tmp/", "/home/", "/root/", "/work/", "C:\\\\"):
        assert local not in text
    assert public_name("/tmp/lbres/random") == "random"
    assert public_name("C:\\Users\\me\\results\\bm25\\") == "bm25"
    assert public_name("results/bm25") == "results/bm25"
