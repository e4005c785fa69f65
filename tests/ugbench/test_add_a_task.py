"""Adding a task is two files whose split is obvious, and nothing else: the data builder (in ugdata/tasks/)
and the scoring (in ugbench/tasks/). Proved with a task that exists nowhere in the repository, with new data
(not a copy of an existing task's folder): `street_name_rank`, a street view ranks candidate street NAMES
(its own street's name among the names of other streets of its split).

The two files below are written into temporary folders added to the `ugdata.tasks` / `ugbench.tasks`
package paths and found by the registries' own discovery, exactly as new files in the repository would be;
the builder then runs inside a real `ugdata build` (ugdata.testing.small_build), and the random baseline is
evaluated on the new task through ugbench.evaluation.evaluate, whose results JSON must validate.
"""

from __future__ import annotations

import json
import sys

import pytest

import ugbench.tasks
import ugdata.tasks
from ugbench.tasks import registry as task_registry
from ugdata.tasks import registry as builder_registry

DATA_FILE = '''
"""Street-name ranking: a street view ranks candidate street names (its street's and other streets')."""

import pandas as pd

from ugdata.format import TaskSpec
from ugdata.tasks.common import EVAL_SPLITS, TaskInputs, TaskOutput, queries_frame
from ugdata.tasks.registry import register_builder

NAME = "street_name_rank"


@register_builder(NAME, order=1000)
def build(inp: TaskInputs) -> TaskOutput | None:
    v = inp.views[inp.views.split.isin(EVAL_SPLITS) & (inp.views.street_name != "")]
    names = v[["split", "street_name"]].drop_duplicates().sort_values(["split", "street_name"])
    if len(names) < 2:
        return None
    doc_id = {(s, n): f"{NAME}/{s}/{i}" for i, (s, n) in enumerate(names.itertuples(index=False))}
    rows = []
    for r in v.sort_values("image_id").itertuples(index=False):
        others = [d for (s, n), d in doc_id.items() if s == r.split and n != r.street_name][:inp.n_candidates - 1]
        if others:
            pos = doc_id[(r.split, r.street_name)]
            rows.append({"query_id": f"{NAME}/{r.image_id}", "split": r.split, "text": None, "image_id": r.image_id,
                         "graph_context": list(r.graph_context), "lat": float(r.lat), "lon": float(r.lon),
                         "qtype": "image", "candidate_ids": sorted([pos, *others]), "positive_ids": [pos]})
    corpus = pd.DataFrame({"doc_id": list(doc_id.values()), "text": [n for _, n in doc_id], "image_id": None,
                           "graph_context": [[] for _ in doc_id], "lat": float("nan"), "lon": float("nan"),
                           "kind": "street_name", "split": [s for s, _ in doc_id]})
    spec = TaskSpec(name=NAME, description="A street view ranks street names (its own street's among others).",
                    query_modalities=["image", "graph"], doc_modalities=["text"],
                    instructions={"query": "Represent this street view for naming its street."},
                    splits=list(EVAL_SPLITS))
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus})
'''

SCORING_FILE = '''
"""Street-name ranking: scored as a local ranking task (Hit@1 on the candidate list)."""

from .registry import TaskMeta, register_task

register_task(TaskMeta(name="street_name_rank", family="retrieval", data_task="street_name_rank",
                       main_score="hit@1", aliases=["street_names"],
                       description="A street view ranks candidate street names."))
'''


@pytest.fixture()
def new_task_files(tmp_path, monkeypatch):
    builder_registry.task_builders()  # the built-in builders and tasks first: the registries' state to restore
    task_registry.entries()
    for pkg, text in ((ugdata.tasks, DATA_FILE), (ugbench.tasks, SCORING_FILE)):
        folder = tmp_path / pkg.__name__.replace(".", "_")
        folder.mkdir()
        (folder / "street_name_rank.py").write_text(text)
        monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(folder)])
    with builder_registry.BUILDERS.scratch(), task_registry.TASKS.scratch():
        builder_registry.BUILDERS.rediscover()
        task_registry.TASKS.rediscover()
        yield
    for pkg in (ugdata.tasks, ugbench.tasks):
        sys.modules.pop(f"{pkg.__name__}.street_name_rank", None)
        if hasattr(pkg, "street_name_rank"):
            delattr(pkg, "street_name_rank")


def test_a_new_task_is_built_and_scored(new_task_files, tmp_path):
    from rich.console import Console

    from ugbench.evaluation import evaluate
    from ugbench.results_schema import TaskResult
    from ugdata.format import load
    from ugdata.testing import small_build

    order = list(builder_registry.task_builders())
    assert order[-1] == "street_name_rank" and "geoloc_rank" in order  # found by discovery, built last
    assert {"street_name_rank", "street_name_rank_graph"} <= {m.name for m in task_registry.entries()}

    data = small_build(tmp_path / "ugd", n_views=120, seed=0)
    ud = load(data)
    assert "street_name_rank" in ud.task_names()
    written = json.loads((data / "tasks" / "street_name_rank" / "task.json").read_text())
    assert not {"family", "main_score", "protocol"} & set(written)  # scoring facts live in TaskMeta only
    q = ud.task_table("street_name_rank", "queries")
    assert len(q) > 0 and q.candidate_ids.map(len).min() >= 2

    out = tmp_path / "results"
    docs = evaluate("random", data, tasks="street_names,street_name_rank_graph", output=out,
                    cache_dir=None, show_progress=False, console=Console(quiet=True))
    assert [d["task"]["name"] for d in docs] == ["street_name_rank", "street_name_rank_graph"]
    for doc in docs:
        r = TaskResult.model_validate_json((out / "random" / f"{doc['task']['name']}.json").read_text())
        assert r.task.main_score == "hit@1" and r.task.family == "retrieval"
        assert r.task.modalities["document"][0] == "text" and r.instructions["query"]  # data facts, from task.json
        for sc in r.scores.values():
            assert 0.0 <= sc["main_score"] <= 1.0 and sc["n_queries"] > 0
    assert docs[1]["task"]["modalities"]["query"] == ["image", "graph"]


def test_builder_registry_reports_a_broken_module(tmp_path, monkeypatch):
    """A builder module that fails to import is recorded, and a build refuses to go on without its tasks."""
    folder = tmp_path / "broken_builders"
    folder.mkdir()
    (folder / "broken_task.py").write_text("import no_such_module_for_ugdata_tests\n")
    builder_registry.task_builders()
    monkeypatch.setattr(ugdata.tasks, "__path__", [*ugdata.tasks.__path__, str(folder)])
    with builder_registry.BUILDERS.scratch():
        with pytest.warns(RuntimeWarning, match="broken_task"):
            builder_registry.BUILDERS.rediscover()
        assert "no_such_module_for_ugdata_tests" in builder_registry.BUILDERS.broken["broken_task"]
        with pytest.raises(RuntimeError, match="broken_task"):
            builder_registry.task_builders()
    assert "broken_task" not in builder_registry.BUILDERS.broken
    sys.modules.pop("ugdata.tasks.broken_task", None)
