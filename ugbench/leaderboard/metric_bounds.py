"""Which values a metric may take, so that a corrupt or mis-scaled score is caught at submission.

Most ranking and classification metrics (Hit@k, Recall@k, MRR, nDCG, accuracy, share within a radius)
are fractions in [0, 1]; a submission holding 58.85 for Hit@5 was scaled by 100 somewhere and would
silently dominate every mean. The exceptions are the few metrics that are distances, counts,
correlations or R^2, recognised here by name. An unknown name falls back to [0, 1]: a new metric
that is not a fraction must be added to RULES, which is a one-line, reviewable change.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    what: str  # how the bound is described in an error message

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def aggregatable(self) -> bool:
        """A main score can enter a mean over tasks only if it is bounded above by 1 (fractions, R^2, rho)."""
        return self.high <= 1.0 and math.isfinite(self.high)


FRACTION = Bounds(0.0, 1.0, "a fraction in [0, 1]")
NON_NEGATIVE = Bounds(0.0, math.inf, "a non-negative number")
CORRELATION = Bounds(-1.0, 1.0, "a correlation in [-1, 1]")
R_SQUARED = Bounds(-math.inf, 1.0, "an R^2 (at most 1)")
GEOSCORE = Bounds(0.0, 5000.0, "a GeoScore in [0, 5000]")

# (pattern on the lower-cased metric name, bounds); first match wins.
RULES: list[tuple[re.Pattern[str], Bounds]] = [
    (re.compile(r"^(r2|r\^2|r_squared|rsquared)(_|$)"), R_SQUARED),
    (re.compile(r"(spearman|kendall|pearson|corr|rho|tau)"), CORRELATION),
    (re.compile(r"geoscore"), GEOSCORE),
    # distances and errors (median error in metres, mean km error, ...), counts and timings
    (re.compile(r"(error|distance|dist_|_m$|_km$|_meters?$|_kilometers?$|_s$|_seconds?$)"), NON_NEGATIVE),
    (re.compile(r"^(n|num|count)(_|$)|_count$|^support$|rank$"), NON_NEGATIVE),
]


def bounds_for(metric: str) -> Bounds:
    name = metric.lower()
    for pattern, bounds in RULES:
        if pattern.search(name):
            return bounds
    return FRACTION


def check_scores(scores: dict[str, dict[str, object]], where: str, main_metric: str | None) -> list[str]:
    """Every problem with the numbers in a TaskResult's `scores` ({split: {metric: value}}), as messages.

    `main_score` is held to the bounds of the task's declared main metric. A nested value (a breakdown
    such as {"hit@5": {"atmosphere": 0.4}}) keeps its metric's bounds unless its own key names a
    metric with other bounds ({"errors": {"median_error_m": 12.0}}).
    """
    problems: list[str] = []

    def visit(value: object, name: str, path: str) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if isinstance(value, (int, float)):
            v = float(value)
            if not math.isfinite(v):
                problems.append(f"{where}: {path} is {value}; scores must be finite numbers")
                return
            b = bounds_for(name)
            if not b.contains(v):
                problems.append(f"{where}: {path} = {value} is out of range; '{name}' must be {b.what}")
            return
        if isinstance(value, dict):
            for k, v in value.items():
                key = str(k)
                visit(v, key if bounds_for(key) is not FRACTION else name, f"{path}[{key!r}]")
            return
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                visit(v, name, f"{path}[{i}]")
            return
        problems.append(f"{where}: {path} has a value of type {type(value).__name__}, expected a number")

    for split, metrics in scores.items():
        if not isinstance(metrics, dict):
            problems.append(f"{where}: scores[{split!r}] is not an object of metric -> value")
            continue
        for metric, value in metrics.items():
            name = main_metric if metric == "main_score" and main_metric else str(metric)
            visit(value, name, f"scores[{split!r}][{metric!r}]")
    return problems
