"""The worked examples in docs/ugbench.md keep working, and docs/tasks.md has a card for every task.

The two examples ("Adding a task", "Adding a model adapter") are taken from the doc as written, saved as
files in a temporary folder that is added to the `ugbench.tasks` / `ugbench.models` package paths, and
found by the registries' own discovery, exactly as a user's new file in ugbench/tasks/ or ugbench/models/
would be. Nothing is left in the repository, and the registries are restored afterwards. The example model
is then evaluated on the example task (and a built-in one) over a real UGData build with
ugbench.evaluation.evaluate, which must write valid results JSON.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import ugbench.models
import ugbench.tasks
from ugbench.models import registry as model_registry
from ugbench.tasks import registry as task_registry
from ugdata.testing import reseal

DOCS = Path(__file__).resolve().parents[2] / "docs"


def doc_example(first_line: str) -> str:
    """The ```python block of docs/ugbench.md whose first line is `first_line` (the file it belongs in)."""
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "ugbench.md").read_text(), flags=re.S)
    found = [b for b in blocks if b.splitlines()[0].strip() == first_line]
    assert len(found) == 1, f"docs/ugbench.md should hold one python block starting with '{first_line}'"
    return found[0]


@pytest.fixture()
def user_files(tmp_path, monkeypatch):
    """Add the doc's two files to the task and model packages (as a user would), restore everything after."""
    task_registry.entries()  # discover the built-in tasks and models first: the registries' state to restore
    model_registry.entries()
    files = {}
    for pkg, fname in ((ugbench.tasks, "my_task.py"), (ugbench.models, "my_model.py")):
        folder = tmp_path / pkg.__name__.split(".")[-1]
        folder.mkdir()
        path = folder / fname
        path.write_text(doc_example(f"# {pkg.__name__.replace('.', '/')}/{fname}"))
        monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(folder)])
        files[fname] = path
    with task_registry.TASKS.scratch(), model_registry.MODELS.scratch():  # registrations undone on exit
        task_registry.TASKS.rediscover()
        model_registry.MODELS.rediscover()
        yield files
    for mod in ("ugbench.tasks.my_task", "ugbench.models.my_model"):
        sys.modules.pop(mod, None)
    for pkg, attr in ((ugbench.tasks, "my_task"), (ugbench.models, "my_model")):
        if hasattr(pkg, attr):
            delattr(pkg, attr)


@pytest.fixture()
def data_with_my_task(small_ugdata, tmp_path) -> Path:
    """A real UGData build plus a `tasks/my_task/` folder (a retrieval task's data under the new name)."""
    d = tmp_path / "ugdata"
    shutil.copytree(small_ugdata, d)
    shutil.copytree(d / "tasks" / "retrieval_caption2image", d / "tasks" / "my_task")
    spec = json.loads((d / "tasks" / "my_task" / "task.json").read_text())
    spec["name"] = "my_task"
    (d / "tasks" / "my_task" / "task.json").write_text(json.dumps(spec))
    return reseal(d)  # as if the builder had written it (evaluate refuses data edited after its build)


def test_doc_examples_register_and_evaluate(user_files, data_with_my_task, tmp_path):
    from rich.console import Console

    from ugbench.evaluation import evaluate
    from ugbench.results_schema import TaskResult

    names = {m.name: m for m in task_registry.entries()}
    assert {"my_task", "my_task_graph", "my_task_global"} <= set(names)
    assert names["my_task_global"].protocol == "global" and names["my_task_graph"].with_graph
    assert task_registry.get_task("mine_global").name == "my_task_global"
    assert model_registry.resolve("my-model").name == model_registry.resolve("mine").name == "my-model"
    assert "my_model" not in model_registry.BROKEN

    out = tmp_path / "results"
    tasks = ["my_task", "mine_global", "retrieval_image2image"]
    docs = evaluate("my-model", data_with_my_task, tasks=tasks, output=out, cache_dir=tmp_path / "cache",
                    show_progress=False, console=Console(quiet=True), model_options={"dim": 64})
    assert [d["task"]["name"] for d in docs] == ["my_task", "my_task_global", "retrieval_image2image"]
    for doc in docs:
        path = out / "my-model" / f"{doc['task']['name']}.json"
        r = TaskResult.model_validate_json(path.read_text())  # written, and in the results schema
        assert r.model.name == "my-model" and r.model.metadata["embed_dim"] == 64
        assert r.provenance.dataset_fingerprint == json.loads(
            (data_with_my_task / "manifest.json").read_text())["fingerprint"]
        for sc in r.scores.values():
            assert 0.0 <= sc["main_score"] <= 1.0 and sc["n_queries"] > 0
    # the example model does read the images: same-place views share colours more than other places' views
    i2i = docs[2]["scores"]
    chance = np.mean([1 / len(c) for c in _candidates(data_with_my_task, "retrieval_image2image")])
    assert np.average([s["hit@1"] for s in i2i.values()], weights=[s["n_queries"] for s in i2i.values()]) > chance
    assert (out / "my-model" / "summary.json").is_file()


def _candidates(data: Path, task: str) -> list:
    import pandas as pd

    return pd.read_parquet(data / "tasks" / task / "queries.parquet")["candidate_ids"].tolist()


def test_no_example_left_behind():
    """The fixture's files never land in the repository's packages."""
    for pkg, fname in ((ugbench.tasks, "my_task.py"), (ugbench.models, "my_model.py")):
        assert not (Path(pkg.__path__[0]) / fname).exists()


def _cards() -> dict[str, dict]:
    """docs/tasks.md: card heading -> {family, main_score, names (heading + variants)}."""
    text = (DOCS / "tasks.md").read_text()
    cards = {}
    for head, body in re.findall(r"^### `([^`]+)`\n(.*?)(?=^### |\Z)", text, flags=re.S | re.M):
        first = body.split("\n- **Measures:**")[0]  # the Family / Main score / Variants bullet
        family = re.search(r"\*\*Family:\*\* (\w+)\.", first)
        main = re.search(r"\*\*Main score:\*\* `([^`]+)`", first)
        variants = re.search(r"\*\*Variants:\*\*(.*?)(?:Alias|$)", first, flags=re.S)
        assert family and main and variants, f"docs/tasks.md card '{head}' lacks Family / Main score / Variants"
        cards[head] = {"family": family.group(1), "main_score": main.group(1),
                       "names": {head, *re.findall(r"`([^`]+)`", variants.group(1))}}
    return cards


def test_every_registered_task_has_a_card():
    cards = _cards()
    by_name = {n: c for c in cards.values() for n in c["names"]}
    registered = {m.name: m for m in task_registry.entries()}
    assert set(registered) - set(by_name) == set(), "registered tasks without a card in docs/tasks.md"
    assert set(by_name) - set(registered) == set(), "docs/tasks.md names tasks that are not registered"
    for name, m in registered.items():
        assert (by_name[name]["family"], by_name[name]["main_score"]) == (m.family, m.main_score), name
