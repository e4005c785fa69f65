"""Analytic chance levels of ugbench tasks, from the data: what a model that knows nothing would score.

Why: a score means little without its floor. A ranking task's floor depends on how many documents each
query ranks (Hit@1 over 10 candidates is .1 by luck, over 25 it is .04), so it is computed from the task's
own queries, never assumed. UGBench 2.0 requires every local ranking task's main score to have a chance
level of at most MAX_CHANCE (5%): Hit@1 over MIN_CANDIDATES (20) or more candidates. MRR would not do: its
chance over n candidates is H(n)/n, .18 at n = 20. This module is the one place that computes chance, for
the ranking runner (each split's `chance` in the results) and for health reports.

Ranking tasks: the chance value of a metric for one query is the metric's expected value over a uniformly
random ordering of the documents the query ranks, i.e. with every document tied (ugcore.ranking's tie rule,
so exactly what an all-zero or constant embedding scores): Hit@k = 1 - C(n-k, p)/C(n, p) (k/n for one
positive p = 1), Recall@k = min(k, n)/n, MRR = H(n)/n for one positive (under the global protocol ranks
deeper than the runner's depth add 0), nDCG@10 likewise. n is the query's candidate count (local protocol)
or the number of documents its split's corpus holds (global protocol). The task's chance is the mean over
its queries, as the score is.

Probe tasks: the score of features that carry no information, by the perception runner's degenerate rule:
Spearman, Pearson and R^2 0, pairwise accuracy 0.5, accuracy the majority class's share (per class target,
then their mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .encoding import as_list
from .metrics.ranking import DEFAULT_KS, count_metrics

MIN_CANDIDATES = 20  # candidates a local ranking query needs for Hit@1's chance to be at most MAX_CHANCE
MAX_CHANCE = 0.05
ZERO_CHANCE = ("spearman", "pearson", "kendall", "r2")


def within_max_chance(chance: float, limit: float = MAX_CHANCE) -> bool:
    """Whether a chance level meets UGBench 2.0's bound. Compare through this, not with `<=`: chance values
    come from exact formulas in floating point (Hit@1 over 20 candidates is 0.05 plus a few ulps)."""
    return chance <= limit + 1e-9


def _ks(meta) -> tuple[int, ...]:
    return tuple(sorted(set(DEFAULT_KS) | {int(k) for k in meta.options.get("ks", [])}))


def _depth(meta) -> int | None:
    from .runners.ranking import GLOBAL_DEPTH

    return max([GLOBAL_DEPTH, *_ks(meta)]) if meta.protocol == "global" else None


@lru_cache(maxsize=4096)
def _tied(n: int, p: int, ks: tuple[int, ...], depth: int | None) -> dict[str, float]:
    """Every metric of one query whose n documents (p of them relevant) all tie: its chance value."""
    return count_metrics(np.zeros(p, np.int64), np.full(p, n, np.int64), np.full(p, p, np.int64), p, ks, depth)


def n_ranked(meta, queries: pd.DataFrame, corpus: pd.DataFrame | None = None, spec=None) -> np.ndarray:
    """Per query (rows of `queries` as given), how many documents it ranks: its candidate list under the local
    protocol; under the global protocol the corpus, or its split's part of it when the data says each split
    ranks its own documents (task.json extra.corpus_split_column, e.g. StreetSem)."""
    if meta.protocol != "global":
        return np.array([len(as_list(c)) for c in queries["candidate_ids"]], dtype=np.int64)
    if corpus is None:
        raise ValueError(f"task '{meta.name}' ranks the whole corpus (global protocol): pass its corpus table")
    col = (spec.extra.get("corpus_split_column") if spec is not None else None)
    if col and col in corpus.columns:
        sizes = corpus[col].astype(str).value_counts()
        return np.array([int(sizes.get(s, 0)) for s in queries["split"].astype(str)], dtype=np.int64)
    return np.full(len(queries), len(corpus), dtype=np.int64)


def chance_per_query(meta, queries: pd.DataFrame, corpus: pd.DataFrame | None = None, *, spec=None,
                     metric: str | None = None) -> np.ndarray:
    """Each query's chance value of `metric` (default: the task's main score). `queries` is the data task's
    queries table; only the rows the task scores are used (TaskMeta.select_queries: its query mode)."""
    metric = metric or meta.main_score
    q = meta.select_queries(queries)
    if meta.protocol == "probe":
        return np.full(len(q), _probe_chance(metric, q, spec))
    ks, depth = _ks(meta), _depth(meta)
    n = n_ranked(meta, q, corpus, spec)
    p = np.array([len(as_list(x)) for x in q["positive_ids"]], dtype=np.int64)
    if len(q) and (p.min() < 1 or (meta.protocol != "global" and np.any(p > n))):
        raise ValueError(f"task '{meta.name}': every query needs 1 to n positives among its n candidates")
    vals = [_tied(int(a), int(b), ks, depth) for a, b in zip(n, p, strict=True)]
    if vals and metric not in vals[0]:
        raise ValueError(f"no analytic chance for metric '{metric}' of task '{meta.name}' (ranking metrics: "
                         f"{sorted(vals[0])})")
    return np.array([v[metric] for v in vals], dtype=np.float64)


def chance_level(task_meta, queries_df: pd.DataFrame, corpus_df: pd.DataFrame | None = None, *, spec=None,
                 metric: str | None = None) -> float:
    """The expected value of the task's main score (or `metric`) for a model that knows nothing: the mean of
    `chance_per_query` over the queries the task scores (pass one split's rows for that split's chance).

    task_meta: a TaskMeta (ugbench.tasks.get_task(name)). queries_df: the data task's queries.parquet (for a
    probe task: targets.parquet). corpus_df: needed only under the global protocol. spec: the data task's
    TaskSpec (task.json), needed for StreetSem-style per-split corpora and for class targets of probes.
    Hit@1: mean of 1/n_i; MRR: mean of H(n_i)/n_i (one positive each). NaN when no query is scored.
    """
    v = chance_per_query(task_meta, queries_df, corpus_df, spec=spec, metric=metric)
    return float(np.mean(v)) if v.size else float("nan")


def candidate_facts(task_meta, queries_df: pd.DataFrame, corpus_df: pd.DataFrame | None = None, *, spec=None,
                    min_candidates: int = MIN_CANDIDATES) -> dict[str, Any]:
    """What a health report needs about a ranking task's candidate lists: query count, candidates per query
    (min / median / max), `n_short_queries` (queries ranking fewer than `min_candidates` documents, where the
    main score's chance exceeds MAX_CHANCE) and the main score's `chance`."""
    q = task_meta.select_queries(queries_df)
    n = n_ranked(task_meta, q, corpus_df, spec)
    return {
        "n_queries": int(len(q)),
        "n_candidates_min": int(n.min()) if n.size else 0,
        "n_candidates_median": float(np.median(n)) if n.size else 0.0,
        "n_candidates_max": int(n.max()) if n.size else 0,
        "n_short_queries": int(np.count_nonzero(n < min_candidates)),
        "chance": chance_level(task_meta, q, corpus_df, spec=spec),
    }


def task_chance(task: Any, data_dir: str | Path, *, metric: str | None = None,
                splits: list[str] | None = None) -> dict[str, float]:
    """Chance of a task (name, alias or TaskMeta) on a UGData directory, per split it scores: {split: chance}."""
    import ugdata

    from .tasks.registry import get_task

    meta = get_task(task) if isinstance(task, str) else task
    ud = ugdata.load(data_dir)
    spec = ud.task_spec(meta.data_task)
    if meta.protocol == "probe":
        q, corpus = ud.task_table(meta.data_task, "targets"), None
    else:
        q = ud.task_table(meta.data_task, "queries")
        corpus = ud.task_table(meta.data_task, "corpus") if meta.protocol == "global" else None
    q = meta.select_queries(q)
    out = {}
    for s in splits or list(spec.splits):
        rows = q[q["split"].astype(str) == s]
        if len(rows):
            out[s] = chance_level(meta, rows, corpus, spec=spec, metric=metric)
    return out


def _probe_chance(metric: str, targets: pd.DataFrame, spec) -> float:
    if metric in ZERO_CHANCE:
        return 0.0
    if metric == "pairwise_accuracy":
        return 0.5
    if metric == "accuracy":
        classes: Mapping | list = ((spec.extra.get("targets") or {}).get("classification", []) if spec is not None
                                   else [])
        cols = [c for c in classes if c in targets.columns]
        if not cols:
            raise ValueError("the chance accuracy of a probe needs its class targets: pass the task's spec")
        return float(np.mean([targets[c].value_counts(normalize=True).max() for c in cols]))
    raise ValueError(f"no analytic chance for probe metric '{metric}'")
