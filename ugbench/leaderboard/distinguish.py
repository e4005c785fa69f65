"""Intervals of the leaderboard's means, and whether neighbouring ranks are distinguishable.

A rank is a claim that one model is better than the next; with a few hundred queries per task two models a
point apart often are not. The page therefore says, for each ranked entry, whether it is distinguishable
from the entry ranked just below it, and shows every score with its 95% interval.

Intervals of means (`aggregate_intervals`). An entry's task intervals come from its results (TaskScore.ci95,
the seeded bootstrap over queries of results schema 1.1). A mean over tasks (or families) gets the same mean
of the task intervals' bounds: lo = sum_t w_t lo_t, hi = sum_t w_t hi_t. That is exact when the tasks' errors
move together (variants of one task share their queries) and conservative otherwise (independent tasks
would give a narrower interval), so it never claims more precision than the data has.

Distinguishability of neighbours (`neighbour_tests`), on the ranking statistic, the mean over families:
- `paired`: both entries' per-query values are at hand (their results folders, given to `ugbench leaderboard
  render --results`, with the SHA-256 the entries recorded) for every task: the difference of the two means
  over families is tested over the same queries with ugbench.stats.paired_strata_test (each task's per-query
  differences weighted as the mean over families weighs the task: paired bootstrap 95% interval, sign-flip
  permutation p-value, seeded). Distinguishable when the interval excludes 0.
- `paired+intervals`: per-query values exist for some tasks only (a probe's Spearman or accuracy has none:
  it is not a mean over items). Their part of the difference is paired as above; each remaining task adds
  the conservative interval of a difference, [lo_a - hi_b, hi_a - lo_b] (the half-widths add, which holds
  however the two models' errors correlate), weighted likewise. Distinguishable when the sum excludes 0.
- `overlap`: no per-query values for the pair: distinguishable when the two entries' intervals of the mean
  over families (above) do not overlap. Stricter than a test of the difference: the page says so.
- none: an entry without intervals (results 1.0): not judged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .models import BenchmarkSpec, Entry

METHODS = {
    "paired": "a paired bootstrap of the difference over the same queries (every task)",
    "paired+intervals": "a paired bootstrap over the same queries where per-query values exist, the other tasks' "
    "difference intervals added conservatively",
    "overlap": "whether the two means' 95% intervals overlap (no per-query values at hand)",
}


def task_weights(spec: BenchmarkSpec) -> dict[str, float]:
    """The weight of each task in the mean over families: 1 / (families x tasks in its family)."""
    fams = [f for f in spec.families if any(t.family == f for t in spec.tasks)]
    n_in = {f: sum(t.family == f for t in spec.tasks) for f in fams}
    return {t.name: 1.0 / (len(fams) * n_in[t.family]) for t in spec.tasks}


def _weighted(bounds: list[tuple[float, list[float] | None]]) -> list[float] | None:
    if not bounds or any(ci is None for _, ci in bounds):
        return None
    lo = sum(w * ci[0] for w, ci in bounds if ci is not None)
    hi = sum(w * ci[1] for w, ci in bounds if ci is not None)
    return [float(lo), float(hi)]


def aggregate_intervals(spec: BenchmarkSpec, entry: Entry) -> dict[str, Any]:
    """Intervals of an entry's mean over tasks, mean over families and each family mean (None where a task
    lacks a score or an interval): the task intervals' bounds averaged with the mean's own weights."""
    def ci(name: str) -> list[float] | None:
        s = entry.scores.get(name)
        return s.ci95 if s is not None else None

    names = [t.name for t in spec.tasks]
    per_family: dict[str, list[float] | None] = {}
    for f in spec.families:
        fam = [t.name for t in spec.tasks if t.family == f]
        per_family[f] = _weighted([(1.0 / len(fam), ci(n)) for n in fam]) if fam else None
    w = task_weights(spec)
    return {
        "mean_over_tasks": _weighted([(1.0 / len(names), ci(n)) for n in names]) if names else None,
        "mean_over_families": _weighted([(w[n], ci(n)) for n in names]) if names else None,
        "per_family": per_family,
    }


# ------------------------------------------------------------------------------------- per-query values


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _entry_folder(entry: Entry, roots: list[Path]) -> Path | None:
    """The results folder an entry was submitted from, among the model folders under `roots`: the one whose
    results files have exactly the SHA-256 the entry recorded (so per-query files beside them belong to the
    very numbers on the board)."""
    from .validate import discover_model_dirs

    recorded = {Path(f.path).name: f.sha256 for f in entry.source.files}
    if not recorded:
        return None
    for root in roots:
        if not Path(root).is_dir():
            continue
        for d in discover_model_dirs(Path(root)):
            files = {n: d / n for n in recorded}
            if all(p.is_file() for p in files.values()) and all(_sha256(p) == recorded[n] for n, p in files.items()):
                return d
    return None


def load_per_query(entry: Entry, spec: BenchmarkSpec, roots: list[Path]) -> dict[str, Any] | None:
    """{task: pandas Series of the main score per query id, on the declared split} for the tasks whose main
    score is a mean over queries, or None when the entry's results folder is not found under `roots`."""
    import pandas as pd

    from ugbench.evaluation import per_query_path
    from ugbench.results_schema import TaskResult

    folder = _entry_folder(entry, roots)
    if folder is None:
        return None
    out: dict[str, Any] = {}
    for p in sorted(folder.glob("*.json")):
        pq = per_query_path(p)
        if not pq.is_file():
            continue
        try:
            r = TaskResult.model_validate_json(p.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - summaries and other non-results files
            continue
        t = spec.task(r.task.name)
        if t is None or r.task.name not in entry.scores:
            continue
        df = pd.read_parquet(pq)
        if t.main_score not in df.columns:
            continue  # not a mean over queries (a probe's Spearman): handled by its interval
        s = df[df["split"].astype(str) == t.split].dropna(subset=[t.main_score])
        out[t.name] = s.set_index(s["query_id"].astype(str))[t.main_score].astype(np.float64)
    return out


# --------------------------------------------------------------------------------------------- the tests


@dataclass
class PairTest:
    """Whether an entry is distinguishable from the next-ranked one, and how that was decided."""

    distinguishable: bool | None
    method: str | None
    difference: float | None
    ci95: list[float] | None
    p_value: float | None = None
    n_paired_tasks: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pair(a: Entry, b: Entry, spec: BenchmarkSpec, qa: dict[str, Any] | None, qb: dict[str, Any] | None,
          ia: dict[str, Any], ib: dict[str, Any], seed: int) -> PairTest:
    from ugbench.stats import paired_strata_test

    ma, mb = a.aggregates.mean_over_families, b.aggregates.mean_over_families
    diff = None if ma is None or mb is None else float(ma - mb)
    w = task_weights(spec)
    paired = []
    if qa is not None and qb is not None:
        for t in spec.tasks:
            sa, sb = qa.get(t.name), qb.get(t.name)
            if sa is None or sb is None or set(sa.index) != set(sb.index) or sa.index.has_duplicates or not len(sa):
                continue
            ids = sorted(sa.index)
            paired.append((t.name, sa.loc[ids].to_numpy() - sb.loc[ids].to_numpy()))
    if paired:
        rest = [t.name for t in spec.tasks if t.name not in {n for n, _ in paired}]
        lo_u = hi_u = 0.0
        for n in rest:
            ca, cb = a.scores[n].ci95 if n in a.scores else None, b.scores[n].ci95 if n in b.scores else None
            if ca is None or cb is None:
                return PairTest(None, None, diff, None, note=f"task '{n}' has no per-query values and no interval")
            lo_u += w[n] * (ca[0] - cb[1])
            hi_u += w[n] * (ca[1] - cb[0])
        k = len(paired)  # paired_strata_test averages strata equally: scale each by k * its weight
        res = paired_strata_test([d * (k * w[n]) for n, d in paired], seed=seed,
                                 keys=("leaderboard", a.model.name, a.model.revision, b.model.name, b.model.revision))
        lo, hi = res["ci95"][0] + lo_u, res["ci95"][1] + hi_u
        method = "paired" if not rest else "paired+intervals"
        return PairTest(bool(lo > 0 or hi < 0), method, diff, [float(lo), float(hi)],
                        res["p_value"] if not rest else None, n_paired_tasks=k,
                        note="" if not rest else f"{len(rest)} task(s) without per-query values: {', '.join(rest)}")
    ca, cb = ia["mean_over_families"], ib["mean_over_families"]
    if ca is None or cb is None or diff is None:
        return PairTest(None, None, diff, None, note="no interval (results without ci95)")
    overlap = ca[0] <= cb[1] and cb[0] <= ca[1]
    return PairTest(not overlap, "overlap", diff, None)


def neighbour_tests(spec: BenchmarkSpec, ranked: list[Entry], *, results: list[Path] | None = None,
                    seed: int = 0) -> list[PairTest | None]:
    """For each entry of `ranked` (the ranking order), its test against the next ranked entry; None for the
    last ranked entry and for unranked (partial) ones. `results`: folders holding the entries' results
    folders (the per-query values); without them every pair falls back to interval overlap."""
    complete = [e for e in ranked if not e.partial and e.aggregates.mean_over_families is not None]
    per_query = {id(e): (load_per_query(e, spec, list(results)) if results else None) for e in complete}
    intervals = {id(e): aggregate_intervals(spec, e) for e in complete}
    tests: dict[int, PairTest] = {}
    for a, b in zip(complete, complete[1:], strict=False):
        tests[id(a)] = _pair(a, b, spec, per_query[id(a)], per_query[id(b)], intervals[id(a)], intervals[id(b)],
                             seed)
    return [tests.get(id(e)) for e in ranked]
