"""Aggregates recomputed from per-task main scores: mean over tasks and mean over task families.

As on MTEB/MIEB: the family mean is the mean of its tasks' main scores, and the mean over families
weighs each family equally whatever its number of tasks (so a family with many small tasks cannot
dominate). A mean that covers a missing task is null, not a mean over a different subset.
"""

from __future__ import annotations

from statistics import fmean

from .models import Aggregates, BenchmarkSpec, TaskScore


def aggregate(spec: BenchmarkSpec, scores: dict[str, TaskScore]) -> Aggregates:
    per_family: dict[str, float | None] = {}
    for family in spec.families:
        names = [t.name for t in spec.tasks if t.family == family]
        if names and all(n in scores for n in names):
            per_family[family] = fmean(scores[n].value for n in names)
        else:
            per_family[family] = None
    complete = all(t.name in scores for t in spec.tasks)
    family_values = [v for f, v in per_family.items() if any(t.family == f for t in spec.tasks)]
    return Aggregates(
        mean_over_tasks=fmean(scores[t.name].value for t in spec.tasks) if complete and spec.tasks else None,
        mean_over_families=fmean(family_values) if complete and family_values else None,  # type: ignore[arg-type]
        per_family=per_family,
        n_tasks=sum(1 for t in spec.tasks if t.name in scores),
        n_declared_tasks=len(spec.tasks),
    )
