"""Task-family runners. `FAMILY_RUNNERS` is the one place that maps a task family to its runner.

A runner is a `FamilyRunner`: `run(meta: TaskMeta, ctx: RunContext) -> dict[split, scores]` (scores hold
`main_score`) plus what the harness needs to know about the family without naming it: `item_tables`, the
task tables whose rows become encoded items (a `_graph` variant is skipped in an `all` run when none of them
carries a graph_context). A new family adds one entry here and needs no case in ugbench/evaluation.py; a task
file may also bring its own runner with `options={"runner": "module:attr"}` (a FamilyRunner, or a plain
run function, which then reads the ranking tables).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ugcore.imports import import_attr

from .context import RunContext
from .perception import run_probe_task
from .ranking import run_ranking_task

Runner = Callable[..., dict]


@dataclass(frozen=True)
class FamilyRunner:
    run: Runner
    item_tables: tuple[str, ...] = ("queries", "corpus")  # tasks/<data_task>/<table>.parquet, items to encode

    def __call__(self, meta, ctx: RunContext) -> dict:
        return self.run(meta, ctx)


RANKING = FamilyRunner(run_ranking_task, ("queries", "corpus"))
PROBE = FamilyRunner(run_probe_task, ("targets",))

FAMILY_RUNNERS: dict[str, FamilyRunner] = {
    "geolocation": RANKING,
    "retrieval": RANKING,
    "grounding": RANKING,
    "streetsem": RANKING,
    "perception": PROBE,
}


def runner_for(meta) -> FamilyRunner:
    """The runner of a task: its own (`options["runner"]`, "module:attr") or its family's."""
    spec = meta.options.get("runner")
    if spec is None:
        return FAMILY_RUNNERS[meta.family]
    obj = import_attr(spec, what=f"task '{meta.name}' runner")
    return obj if isinstance(obj, FamilyRunner) else FamilyRunner(obj)


__all__ = ["FAMILY_RUNNERS", "PROBE", "RANKING", "FamilyRunner", "RunContext", "run_probe_task", "run_ranking_task",
           "runner_for"]
