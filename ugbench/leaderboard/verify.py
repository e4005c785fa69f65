"""Re-check a leaderboard file as a whole: schema, unique keys, and aggregates recomputed from scores.

A leaderboard travels (pull requests, copies); `ugbench leaderboard validate` catches an entry whose
aggregates were edited by hand or whose scores no longer match the benchmark it claims.
"""

from __future__ import annotations

import math
from pathlib import Path

from .aggregate import aggregate
from .metric_bounds import bounds_for
from .models import Leaderboard
from .store import load_leaderboard


def verify(lb: Leaderboard) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    spec = lb.benchmark
    for i, e in enumerate(lb.entries):
        where = f"entries[{i}] ({e.model.name!r} revision {e.model.revision!r})"
        if e.key in seen:
            problems.append(f"{where}: duplicate of an earlier entry for the same benchmark version")
        seen.add(e.key)
        for task, s in e.scores.items():
            b = bounds_for(s.metric)
            if not math.isfinite(s.value) or not b.contains(s.value):
                problems.append(f"{where}: score of task '{task}' = {s.value} is not {b.what}")
        if e.benchmark_version != spec.version:
            continue  # aggregates of older versions were computed against their own declaration
        unknown = sorted(set(e.scores) - {t.name for t in spec.tasks})
        if unknown:
            problems.append(f"{where}: scores for undeclared tasks {unknown}")
        expected = aggregate(spec, {k: v for k, v in e.scores.items() if k not in unknown})
        if not _same(expected.model_dump(), e.aggregates.model_dump()):
            problems.append(f"{where}: aggregates differ from those recomputed from its scores")
        missing = [t.name for t in spec.tasks if t.name not in e.scores]
        if missing != e.missing_tasks or e.partial != bool(missing):
            problems.append(f"{where}: partial/missing_tasks do not match its scores (missing {missing})")
    return problems


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def verify_file(path: str | Path) -> list[str]:
    return verify(load_leaderboard(path))
