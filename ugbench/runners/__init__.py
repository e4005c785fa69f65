"""Task-family runners. `FAMILY_RUNNERS` is the one place that maps a UGData task family to its runner.

A runner is `run(meta: TaskMeta, ctx: RunContext) -> dict[split, scores]`; scores hold `main_score`.
"""

from __future__ import annotations

from collections.abc import Callable

from .context import RunContext
from .perception import run_probe_task
from .ranking import run_ranking_task

Runner = Callable[..., dict]

FAMILY_RUNNERS: dict[str, Runner] = {
    "geolocation": run_ranking_task,
    "retrieval": run_ranking_task,
    "grounding": run_ranking_task,
    "streetsem": run_ranking_task,
    "perception": run_probe_task,
}

__all__ = ["FAMILY_RUNNERS", "RunContext", "run_probe_task", "run_ranking_task"]
