"""Task registry: names and aliases -> Task objects, with "did you mean" suggestions.

After lm-evaluation-harness: every module in ugbench/tasks/ is imported on first lookup, and a task file
registers itself by calling `register_task(TaskMeta(...))`, so adding a task touches no other file.

A task file declares the image-only task; `variants=` derives the others with systematic names:
    <name>            image-only (queries/documents as text and/or image, no graph)
    <name>_graph      with-graph: each item also gets GraphContext(data_dir, its graph_context node ids)
    <name>_global     global protocol: rank the whole corpus with faiss instead of each query's candidates
    <name>_global_graph
The family -> runner mapping lives in one place: `FAMILY_RUNNERS` in ugbench/runners/__init__.py.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ugcore.errors import UserError

Family = Literal["geolocation", "retrieval", "perception", "grounding", "streetsem"]
Protocol = Literal["local", "global", "probe"]


class TaskMeta(BaseModel):
    """Typed metadata of one ugbench task (what list-tasks prints and results embed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = "1"
    family: Family
    data_task: str = Field(description="the UGData task folder it reads: DIR/tasks/<data_task>/")
    protocol: Protocol = "local"
    with_graph: bool = False
    splits: list[str] | None = None  # None: the splits the data's task.json lists
    main_score: str
    query_modalities: list[str] = Field(default_factory=list)
    doc_modalities: list[str] = Field(default_factory=list)
    description: str
    citation: str = ""
    aliases: list[str] = Field(default_factory=list)
    geo_metrics: bool = False  # add geo metrics from the top-1 document (ranking tasks)
    instructions: dict[str, str] = Field(default_factory=dict)  # side -> instruction; overrides task.json
    options: dict[str, Any] = Field(default_factory=dict)  # family-specific knobs (e.g. probe alphas)

    @property
    def modalities(self) -> dict[str, list[str]]:
        extra = ["graph"] if self.with_graph else []
        return {"query": self.query_modalities + extra, "document": self.doc_modalities + extra}


UGBENCH_CITATION = (
    "@article{urbangraphembeddings2026, title={Urban Graph Embeddings: spatially grounded multimodal "
    "embeddings for urban science}, journal={arXiv:2602.08342}, year={2026}}"
)

_TASKS: dict[str, TaskMeta] = {}
_ALIASES: dict[str, str] = {}
_DISCOVERED = False


class UnknownTaskError(UserError):
    pass


def _add(meta: TaskMeta) -> None:
    for key in [meta.name, *meta.aliases]:
        if key in _TASKS or key in _ALIASES:
            raise ValueError(f"task name or alias '{key}' registered twice")
    _TASKS[meta.name] = meta
    for a in meta.aliases:
        _ALIASES[a] = meta.name


def register_task(meta: TaskMeta, *, variants: tuple[str, ...] = ("graph",)) -> TaskMeta:
    """Register `meta` and its derived variants ("graph", "global", "global_graph").

    Aliases are kept only on the base task; variants get "<alias>_<variant>" aliases.
    """
    _add(meta)
    for v in variants:
        if v not in ("graph", "global", "global_graph"):
            raise ValueError(f"unknown variant '{v}' for task {meta.name}")
        update: dict[str, Any] = {
            "name": f"{meta.name}_{v}",
            "aliases": [f"{a}_{v}" for a in meta.aliases],
            "with_graph": v.endswith("graph"),
        }
        desc = meta.description
        if v.startswith("global"):
            update["protocol"] = "global"
            desc += " Global protocol: each query ranks the whole corpus (faiss)."
        if v.endswith("graph"):
            desc += " With graph: items carry their ego subgraph (GraphContext)."
        update["description"] = desc
        _add(meta.model_copy(update=update))
    return meta


def discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    from ugbench import tasks

    for mod in sorted(pkgutil.iter_modules(tasks.__path__), key=lambda m: m.name):
        if mod.name != "registry" and not mod.name.startswith("_"):
            importlib.import_module(f"{tasks.__name__}.{mod.name}")
    _DISCOVERED = True


def entries() -> list[TaskMeta]:
    discover()
    return [_TASKS[k] for k in sorted(_TASKS)]


def get_task(name: str) -> TaskMeta:
    discover()
    key = name.strip()
    if key in _TASKS:
        return _TASKS[key]
    if key in _ALIASES:
        return _TASKS[_ALIASES[key]]
    names = sorted(set(_TASKS) | set(_ALIASES))
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownTaskError(f"unknown task '{name}'.{hint} See `ugbench list-tasks`.")


def tasks_for_data(data_task_names: list[str]) -> list[TaskMeta]:
    """All registered tasks whose UGData folder is among `data_task_names` (for `--tasks all`)."""
    have = set(data_task_names)
    return [m for m in entries() if m.data_task in have]
