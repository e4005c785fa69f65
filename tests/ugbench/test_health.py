"""`ugbench health`: chance levels from the task's queries, the three flags of issue #14 (each planted), a flag
explained by a task card, exit codes, and the JSON / Markdown outputs.

Real models on a mock UGData (10 candidates per query): random (the chance model), bm25 (text-only) and the
session's hash model (text + image: multimodal), a few seconds on a CPU."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_checks import run_cli

from ugbench.health import (
    _adapter_chance,
    _null_moments,
    cross_modal,
    health_report,
    load_models,
    model_role,
    read_explanations,
)
from ugcore.errors import UserError

TASKS = "geoloc_rank,retrieval_caption2image,retrieval_image2image,retrieval_caption2image_global,perception_osm"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, custom_module):
    from ugbench.evaluation import evaluate
    from ugbench.testing import build_mock_ugdata

    tmp = tmp_path_factory.mktemp("health")
    data = build_mock_ugdata(tmp / "ugdata", n_places=40, n_candidates=10, seed=3)
    for model in ("random", "bm25", f"{custom_module}:make_model"):
        evaluate(model, data, tasks=TASKS, output=tmp / "results", cache_dir=None, show_progress=False)
    return data, tmp / "results"


def _copy(results: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(results, dest)
    return dest


def _edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _row(report: dict, task: str) -> dict:
    return next(r for r in report["tasks"] if r["task"] == task)


def _flags(report: dict, task: str) -> set[str]:
    return {f["flag"] for f in _row(report, task)["flags"]}


def _cards(path: Path, explain: dict[str, list[tuple[str, str]]]) -> Path:
    """A task-cards page in docs/tasks.md's format, one card per task with `Known flag` bullets."""
    parts = ["# cards", ""]
    for task, flags in explain.items():
        parts += [f"### `{task}`", "", f"- **Family:** retrieval. **Main score:** `hit@1`. **Variants:** `{task}_graph`.",
                  "- **Measures:** something."]
        parts += [f"- **Known flag:** `{flag}`: {why}" for flag, why in flags]
        parts.append("")
    path.write_text("\n".join(parts))
    return path


# ------------------------------------------------------------------------------------------ chance levels


@pytest.mark.parametrize("n,m", [(5, 1), (6, 2), (5, 3), (4, 4)])
def test_null_moments_match_enumerating_every_order(n, m):
    """Each query's chance mean and variance equal the exact ones over all n! orders of its documents."""
    vals: dict[str, list[float]] = {"hit@1": [], "hit@3": [], "recall@3": [], "mrr": []}
    for order in itertools.permutations(range(n)):
        ranks = sorted(order.index(p) + 1 for p in range(m))  # documents 0..m-1 are the positives
        vals["hit@1"].append(float(ranks[0] <= 1))
        vals["hit@3"].append(float(ranks[0] <= 3))
        vals["recall@3"].append(sum(r <= 3 for r in ranks) / m)
        vals["mrr"].append(1.0 / ranks[0])
    for metric, v in vals.items():
        mean, var = _null_moments(metric, n, m, None)
        assert mean == pytest.approx(np.mean(v), abs=1e-12) and var == pytest.approx(np.var(v), abs=1e-12), metric


def test_null_moments_closed_forms_and_depth():
    n = 37
    assert _null_moments("hit@1", n, 1, None)[0] == pytest.approx(1 / n)
    assert _null_moments("mrr", n, 1, None)[0] == pytest.approx(sum(1 / r for r in range(1, n + 1)) / n)
    assert _null_moments("recall@10", n, 1, None)[0] == pytest.approx(10 / n)
    # global protocol: a positive deeper than the depth scores 0 for MRR
    assert _null_moments("mrr", 1000, 1, 100)[0] == pytest.approx(sum(1 / r for r in range(1, 101)) / 1000)
    assert _null_moments("ndcg@10", n, 1, None) is None  # no formula: the report says so


def test_report_computes_chance_from_the_queries(setup):
    import ugdata

    data, results = setup
    report = health_report(data, load_models([results]), task_cards=None)
    ud = ugdata.load(data)
    t2i = _row(report, "retrieval_caption2image")
    from ugbench.tasks.registry import get_task

    q = get_task("retrieval_caption2image").select_queries(ud.task_table("retrieval_caption2image", "queries"))
    q = q[q["split"] == "test"]  # the rows the task scores: its query mode's, on the test split
    assert t2i["chance"]["value"] == pytest.approx(np.mean([1 / len(c) for c in q["candidate_ids"]]))
    assert t2i["chance"]["method"] == "analytic"
    lo, hi = t2i["chance"]["interval"]
    half = 1.959963984540054 * math.sqrt(sum((1 / len(c)) * (1 - 1 / len(c)) for c in q["candidate_ids"])) / len(q)
    assert (lo, hi) == pytest.approx((max(0, t2i["chance"]["value"] - half), t2i["chance"]["value"] + half))
    for r in report["tasks"]:  # the same value the ranking runner writes into the results (ugbench.chance)
        doc = json.loads((results / "random" / f"{r['task']}.json").read_text())
        if "chance" in doc["scores"]["test"]:
            assert r["chance"]["value"] == pytest.approx(doc["scores"]["test"]["chance"]), r["task"]
    n_docs = len(ud.task_table("retrieval_caption2image", "corpus"))
    assert _row(report, "retrieval_caption2image_global")["chance"]["value"] == pytest.approx(1 / n_docs)
    perception = _row(report, "perception_osm")
    assert perception["chance"] == {"value": 0.0, "interval": None, "method": "random's bootstrap interval", "note": ""}
    assert t2i["n_queries"] == len(q)
    # random is a chance model: on the ranking tasks it lies inside the analytic chance interval
    for task in ("retrieval_caption2image", "retrieval_image2image", "retrieval_caption2image_global", "geoloc_rank"):
        assert "random_off_chance" not in _flags(report, task), _row(report, task)
        s = _row(report, task)["scores"]["random"]
        assert s["ci95"] is not None and s["half_width"] == pytest.approx((s["ci95"][1] - s["ci95"][0]) / 2)


def test_roles_from_declared_modalities_else_the_documented_list(setup):
    _, results = setup
    roles = {m.name: m.role for m in load_models([results])}
    assert roles == {"random": "chance", "bm25": "text-only", "hash-model": "multimodal"}
    path = next((results / "bm25").glob("*.json"))
    from ugbench.results_schema import TaskResult

    r = TaskResult.model_validate_json(path.read_text())
    del r.model.metadata["modalities"]
    assert model_role(r) == ("text-only", None)  # bm25 by name
    r.model.name, r.model.metadata["adapter"] = "someone", "custom"
    assert model_role(r) == ("other", None)
    assert cross_modal({"query": ["image", "graph"], "document": ["text", "graph"]})
    assert not cross_modal({"query": ["image"], "document": ["image", "graph"]})
    assert not cross_modal({"query": ["image"], "document": []})  # a probe


# ---------------------------------------------------------------------------------------- planted flags


def test_planted_random_off_chance(setup, tmp_path):
    data, results = setup
    res = _copy(results, tmp_path / "res")

    def leak(doc):
        doc["scores"]["test"]["main_score"] = doc["scores"]["test"]["hit@1"] = 0.9

    _edit(res / "random" / "retrieval_image2image.json", leak)
    report = health_report(data, load_models([res]), task_cards=None)
    flag = next(f for f in _row(report, "retrieval_image2image")["flags"] if f["flag"] == "random_off_chance")
    assert "0.900 is outside the chance interval" in flag["detail"] and not flag["explained"]
    assert report["summary"]["exit_code"] == 1


def test_planted_wide_interval_and_threshold(setup, tmp_path):
    data, results = setup
    res = _copy(results, tmp_path / "res")
    _edit(res / "bm25" / "retrieval_image2image.json",
          lambda d: d["scores"]["test"]["ci95"].update({"hit@1": [0.0, 0.4]}))
    report = health_report(data, load_models([res]), task_cards=None, max_half_width=0.19)
    row = _row(report, "retrieval_image2image")
    wide = next(f for f in row["flags"] if f["flag"] == "wide_interval")
    assert "bm25 ±0.200" in wide["detail"]
    report = health_report(data, load_models([res]), task_cards=None, max_half_width=0.5)
    assert "wide_interval" not in _flags(report, "retrieval_image2image")


def test_planted_text_only_win_on_a_cross_modal_task_only(setup, tmp_path):
    data, results = setup
    res = _copy(results, tmp_path / "res")

    def win(doc):
        doc["scores"]["test"]["main_score"] = doc["scores"]["test"][doc["task"]["main_score"]] = 0.99

    _edit(res / "bm25" / "geoloc_rank.json", win)  # image -> location text: cross-modal
    _edit(res / "bm25" / "retrieval_image2image.json", win)  # image -> image: not cross-modal
    report = health_report(data, load_models([res]), task_cards=None)
    geo = _row(report, "geoloc_rank")
    assert geo["cross_modal"] and "text_only_wins" in _flags(report, "geoloc_rank")
    flag = next(f for f in geo["flags"] if f["flag"] == "text_only_wins")
    assert flag["detail"].startswith("bm25 (text-only) 0.990 > best multimodal hash-model")
    i2i = _row(report, "retrieval_image2image")
    assert not i2i["cross_modal"] and "text_only_wins" not in _flags(report, "retrieval_image2image")
    assert i2i["checks"]["text_only_wins"] == "not applicable: not a cross-modal task"
    # a text-only model at chance does not "win" over a multimodal model's below-chance draw
    def at_chance(doc):
        doc["scores"]["test"]["main_score"] = doc["scores"]["test"][doc["task"]["main_score"]] = geo["chance"]["value"]

    def unlucky(doc):
        doc["scores"]["test"]["main_score"] = doc["scores"]["test"][doc["task"]["main_score"]] = 0.0

    _edit(res / "bm25" / "geoloc_rank.json", at_chance)
    _edit(res / "hash-model" / "geoloc_rank.json", unlucky)
    report = health_report(data, load_models([res]), task_cards=None)
    assert "text_only_wins" not in _flags(report, "geoloc_rank")
    assert _row(report, "geoloc_rank")["checks"]["text_only_wins"] == (
        "checked: no text-only model scores above the chance interval")
    # without a multimodal contender the check cannot run, and says so (random is not a contender)
    report = health_report(data, load_models([res / "random", res / "bm25"]), task_cards=None)
    assert "text_only_wins" not in _flags(report, "geoloc_rank")
    assert _row(report, "geoloc_rank")["checks"]["text_only_wins"] == "not checked: no multimodal model"


# ----------------------------------------------------------------------------------- explained flags


def test_a_task_card_explains_a_flag(setup, tmp_path):
    data, results = setup
    report = health_report(data, load_models([results]), task_cards=None)
    raised = {(r["task"], f["flag"]) for r in report["tasks"] for f in r["flags"]}
    assert raised, "the 20-query mock tasks have wide intervals"
    explain: dict[str, list[tuple[str, str]]] = {}
    for task, flag in sorted(raised):
        explain.setdefault(task, []).append((flag, f"planted reason for {flag}"))
    explain.setdefault("retrieval_image2image", []).append(("text_only_wins", "never raised here"))
    cards = _cards(tmp_path / "tasks.md", explain)
    report = health_report(data, load_models([results]), task_cards=cards)
    assert all(f["explained"] and f["explanation"] == f"planted reason for {f['flag']}"
               for r in report["tasks"] for f in r["flags"])
    assert report["summary"]["n_unexplained"] == 0 and report["summary"]["exit_code"] == 0
    assert {"task": "retrieval_image2image", "flag": "text_only_wins",
            "explanation": "never raised here"} in report["explained_not_raised"]


def test_card_markers_scope_and_errors(tmp_path):
    text = """### `my_task`

- **Family:** retrieval. **Main score:** `hit@1`. **Variants:** `my_task_graph`, `my_task_global`.
- **Measures:** x.
- **Known flag:** `wide_interval` (`my_task_global`): only 40 queries,
  the city has no more.
- **Known flag:** `random_off_chance`: a reason.
"""
    p = tmp_path / "cards.md"
    p.write_text(text)
    got = read_explanations(p)
    assert got[("my_task_global", "wide_interval")] == "only 40 queries, the city has no more."
    assert ("my_task", "wide_interval") not in got
    assert {t for t, f in got if f == "random_off_chance"} == {"my_task", "my_task_graph", "my_task_global"}
    p.write_text(text.replace("`random_off_chance`", "`random_of_chance`"))
    with pytest.raises(UserError, match="unknown flag 'random_of_chance'"):
        read_explanations(p)
    p.write_text(text.replace("(`my_task_global`)", "(`other_task`)"))
    with pytest.raises(UserError, match="does not name"):
        read_explanations(p)


def test_the_shipped_task_cards_parse():
    from ugbench.health import default_task_cards

    cards = default_task_cards()
    assert cards is not None and cards.name == "tasks.md"
    read_explanations(cards)  # a typo in a Known flag bullet fails here, not in a release


# ------------------------------------------------------------------------------------ CLI and outputs


def test_cli_writes_json_and_markdown_and_exits_1_on_unexplained_flags(setup, tmp_path, capsys, monkeypatch):
    data, results = setup
    out, md = tmp_path / "o" / "report.json", tmp_path / "benchmark-health.md"
    code, stdout, _ = run_cli(capsys, monkeypatch, "ugbench", "health", "--data", data, results, "--out", out,
                              "--markdown", md, "--task-cards", _cards(tmp_path / "empty.md", {}))
    assert code == 1
    report = json.loads(out.read_text())
    assert report["schema"] == "ugbench-health/1" and report["summary"]["n_unexplained"] > 0
    assert {m["name"] for m in report["models"]} == {"random", "bm25", "hash-model"}
    page = md.read_text()
    assert page.startswith("# UGBench benchmark health") and "| retrieval\\_caption2image | hit@1 |" in page
    assert "random (chance)" in page and "## Flags" in page and "**unexplained**" in page
    assert "retrieval_caption2image" in stdout and "unexplained" in stdout


def test_cli_exits_0_when_every_flag_is_explained(setup, tmp_path, capsys, monkeypatch):
    data, results = setup
    code, _, _ = run_cli(capsys, monkeypatch, "ugbench", "health", "--data", data, results, "--tasks",
                         "retrieval_caption2image_global", "--max-half-width", "0.5",
                         "--task-cards", _cards(tmp_path / "empty.md", {}))
    assert code == 0


@pytest.mark.parametrize("case", ["no-results", "missing-folder", "other-data", "unknown-task", "out-is-folder"])
def test_cli_user_errors_are_one_line_exit_2(setup, tmp_path, capsys, monkeypatch, case):
    from ugbench.testing import build_mock_ugdata

    data, results = setup
    args: list = ["--data", data, results]
    want = {"no-results": "give at least one results folder", "missing-folder": "does not exist",
            "other-data": "was computed on other data", "unknown-task": "--tasks nope: no results for it",
            "out-is-folder": "is a folder; give a file name"}[case]
    if case == "no-results":
        args = ["--data", data]
    elif case == "missing-folder":
        args = ["--data", data, tmp_path / "nope"]
    elif case == "other-data":
        args = ["--data", build_mock_ugdata(tmp_path / "other", n_places=6, seed=9), results]
    elif case == "unknown-task":
        args += ["--tasks", "nope"]
    else:
        args += ["--out", tmp_path]
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", "health", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and want in lines[0], err


def test_adapter_chance_probe_accuracy():
    """Results of a task the registry no longer has: accuracy's chance is the majority class's share per class
    target (4 balanced FoVs: .25), as uninformative features score."""
    import pandas as pd

    from ugbench.results_schema import TaskResult

    class FakeData:
        def task_table(self, task, table):
            return pd.DataFrame({"split": ["test"] * 8, "fov_index": [0, 1, 2, 3] * 2})

    r = TaskResult.model_validate({
        "task": {"name": "old_fov_task", "version": "1", "main_score": "accuracy", "family": "perception",
                 "protocol": "probe", "data_task": "streetsem_fov"},
        "model": {"name": "random"},
        "scores": {"test": {"main_score": 0.3, "accuracy": 0.3, "targets": {"fov_index": {"accuracy": 0.3}}}},
        "provenance": {"package_version": "0", "dataset_fingerprint": "x", "task_version": "1", "seed": 0,
                       "created_at": "2026-01-01T00:00:00+00:00"},
    })
    c = _adapter_chance(FakeData(), r, "test")
    assert c.value == pytest.approx(0.25) and c.interval is None


def test_run_baselines_evaluates_into_the_results_folder_first(setup, tmp_path, capsys, monkeypatch):
    data, results = setup
    out = tmp_path / "health-results"
    task = "retrieval_caption2image_global"
    code, stdout, _ = run_cli(capsys, monkeypatch, "ugbench", "health", "--data", data, out, "--run-baselines",
                              "--baselines", "random,bm25", "--tasks", task, "--max-half-width", "1",
                              "--task-cards", _cards(tmp_path / "empty.md", {}))
    assert code == 0, stdout
    assert (out / "random" / f"{task}.json").is_file() and (out / "bm25" / f"{task}.json").is_file()
    assert "random" in stdout and "bm25" in stdout
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", "health", "--data", data, out, results, "--run-baselines")
    assert code == 2 and "writes into one results folder" in err
