"""Task registry: names and aliases -> Task objects, with "did you mean" suggestions.

One ugcore.registry.Registry (after lm-evaluation-harness): every module in ugbench/tasks/ is imported on first lookup, and a task file
registers itself by calling `register_task(TaskMeta(...))`, so adding a task touches no other file.

A task file declares the image-only task; `variants=` derives the others with systematic names:
    <name>            image-only (queries/documents as text and/or image, no graph)
    <name>_graph      with-graph: each item also gets GraphContext(data_dir, its graph_context node ids)
    <name>_global     global protocol: rank the whole corpus (exact, in blocks) instead of each query's candidates
    <name>_global_graph
and `modes=` the paper's other query modes (image / text / fusion = image plus text) of a task whose data
folder holds queries of several modes (queries.parquet column `query_mode`):
    <name>_<mode>        the queries of that mode only (local protocol)
    <name>_<mode>_graph  with graph, when "graph" is among `variants`
The declared task scores its own `query_mode` (plus rows without one: data written before modes existed).
The family -> runner mapping lives in one place: `FAMILY_RUNNERS` in ugbench/runners/__init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ugcore.errors import UserError
from ugcore.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

Family = Literal["geolocation", "retrieval", "perception", "grounding", "streetsem"]
Protocol = Literal["local", "global", "probe"]


class TaskMeta(BaseModel):
    """The scoring facts of one ugbench task (what list-tasks prints and results embed).

    One source of truth per fact: the DATA facts of a task (which splits it has, the items' modalities, the
    instructions written with it, counts, candidate lists) live in the dataset's record,
    DIR/tasks/<data_task>/task.json (ugdata.format.TaskSpec, written by the ugdata builder), and are read
    from there at evaluation time; the SCORING facts (family and so runner, protocol, main score, metric
    options, version, description, citation) live here only. Neither side repeats the other's facts, so they
    cannot disagree. (Datasets built so far also carry family / main_score / protocol / metric lists in their
    task.json: kept there for their pinned fingerprint, read by no part of ugbench.)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = "1"
    family: Family
    data_task: str = Field(description="the UGData task folder it reads: DIR/tasks/<data_task>/")
    protocol: Protocol = "local"
    with_graph: bool = False
    main_score: str
    description: str
    citation: str = ""
    aliases: list[str] = Field(default_factory=list)
    geo_metrics: bool = False  # add geo metrics from the top-1 document (ranking tasks)
    options: dict[str, Any] = Field(default_factory=dict)  # family-specific knobs (e.g. ks, a "runner")
    # The paper's query modes: which rows of queries.parquet (column `query_mode`: image, text, fusion) this
    # task scores. None: every row (a task with one kind of query). `owns_unmarked_queries`: rows without a
    # mode (data written before modes existed) belong to this task; true for the declared task, false for the
    # mode variants derived from it, so old data gives the declared task exactly its former queries.
    query_mode: str | None = None
    owns_unmarked_queries: bool = True

    def modalities(self, spec) -> dict[str, list[str]]:
        """What the model sees on each side: the data's item modalities (task.json; per query mode where the
        data declares them in extra["query_modes"]), with "graph" only in the with-graph variants."""
        extra = ["graph"] if self.with_graph else []
        qmods = (spec.extra.get("query_modes") or {}).get(self.query_mode, spec.query_modalities)
        return {side: [m for m in mods if m != "graph"] + extra
                for side, mods in (("query", qmods), ("document", spec.doc_modalities))}

    def select_queries(self, queries: pd.DataFrame) -> pd.DataFrame:
        """The rows of a queries table (pandas) that this task scores: those of its query mode (module
        docstring). Every reader of a task's queries (runner, chance levels, figures) goes through this."""
        if self.query_mode is None:
            return queries
        if "query_mode" not in queries.columns:
            return queries if self.owns_unmarked_queries else queries.iloc[:0]
        mode = queries["query_mode"]
        keep = mode.astype(object).eq(self.query_mode)
        if self.owns_unmarked_queries:
            keep |= mode.isna()
        return queries[keep.to_numpy(bool)]


UGBENCH_CITATION = (
    "@article{urbangraphembeddings2026, title={Urban Graph Embeddings: spatially grounded multimodal "
    "embeddings for urban science}, journal={arXiv:2602.08342}, year={2026}}"
)

class UnknownTaskError(UserError):
    pass


#: the registry (ugcore.registry.Registry) of every task and derived variant, by name and alias
TASKS: Registry[TaskMeta] = Registry("task", "ugbench.tasks", error=UnknownTaskError,
                                     list_command="ugbench list-tasks")


def _add(meta: TaskMeta) -> None:
    TASKS.add(meta.name, meta, tuple(meta.aliases))


QUERY_MODES = ("image", "text", "fusion")
MODE_WORDS = {"image": "image queries", "text": "text-only queries", "fusion": "fusion queries (image plus text)"}


def register_task(meta: TaskMeta, *, variants: tuple[str, ...] = ("graph",), modes: tuple[str, ...] = ()) -> TaskMeta:
    """Register `meta` and its derived variants ("graph", "global", "global_graph") and query modes.

    Aliases are kept only on the base task; variants get "<alias>_<variant>" aliases. Each mode in `modes`
    (other than the declared task's own `query_mode`) adds "<name>_<mode>" (and "<name>_<mode>_graph" when
    "graph" is among `variants`): the same data folder, scored on that mode's queries, local protocol only
    (under the global protocol a fusion query's own image would sit in the corpus it ranks).
    """
    _add(meta)
    for mode in modes:
        if mode not in QUERY_MODES or mode == meta.query_mode or meta.query_mode is None:
            raise ValueError(f"task {meta.name}: query mode '{mode}' needs the task's own query_mode set and one "
                             f"of {QUERY_MODES} other than it")
        base = meta.model_copy(update={
            "name": f"{meta.name}_{mode}", "aliases": [f"{a}_{mode}" for a in meta.aliases], "query_mode": mode,
            "owns_unmarked_queries": False,
            "description": meta.description + f" Query mode: {MODE_WORDS[mode]}.",
        })
        register_task(base, variants=tuple(v for v in variants if v == "graph"))
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
            desc += " Global protocol: each query ranks the whole corpus (exact inner products, in blocks)."
        if v.endswith("graph"):
            desc += " With graph: items carry their ego subgraph (GraphContext)."
        update["description"] = desc
        _add(meta.model_copy(update=update))
    return meta


def discover() -> None:
    TASKS.discover()


def entries() -> list[TaskMeta]:
    return TASKS.values()


def get_task(name: str) -> TaskMeta:
    return TASKS.get(name)


def tasks_for_data(data_task_names: list[str]) -> list[TaskMeta]:
    """All registered tasks whose UGData folder is among `data_task_names` (for `--tasks all`)."""
    have = set(data_task_names)
    return [m for m in entries() if m.data_task in have]
