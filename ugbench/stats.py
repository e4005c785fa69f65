"""Intervals and paired tests over queries: a seeded bootstrap, the same for every model.

- `bootstrap_ci`: 95% percentile-bootstrap interval of each metric's mean (or median) over queries:
  N_RESAMPLES resamples of the queries with replacement, drawn from a generator seeded by (seed, task, split),
  so the same inputs always give the same interval. All metrics of one split share the same resamples.
- `bootstrap_stat_ci`: the same for a statistic that is not a mean of per-item values (Spearman, R^2 of a probe):
  the statistic is recomputed on each resample of the items.
- `paired_test`: two models' per-query values of one metric on the SAME queries (matched by query id):
  mean difference a - b, its 95% paired-bootstrap interval (queries resampled jointly), and a two-sided
  paired permutation (sign-flip) p-value with N_PERMUTATIONS random sign flips, (count + 1) / (n + 1)
  (never 0; Phipson & Smyth 2010). Seeded as above. `paired_strata_test` does the same for a family: the
  mean over its tasks of each task's mean difference, resampling / flipping queries within each task.

Hand-written rather than scipy.stats.bootstrap / permutation_test, on purpose: every metric of a split must use
the SAME resamples (so intervals of related metrics are consistent and computed in one pass), memory must stay
bounded for 10^5-10^6 queries (resample counts in chunks; scipy materialises every resample), and a family's
test resamples within strata (tasks), which neither scipy function does. The percentile interval is the one
scipy's `method="percentile"` gives.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

N_RESAMPLES = 1000
N_PERMUTATIONS = 10000
LEVEL = 0.95
_CHUNK_ELEMENTS = 1 << 22  # resample counts / sign flips held at once (memory bounded for any n)


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded by `seed` and stable keys (task, split): independent of Python's hash seed."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *(zlib.crc32(k.encode()) for k in keys)])


def _percentiles(stats: np.ndarray) -> np.ndarray:
    a = (1.0 - LEVEL) / 2
    return np.quantile(stats, [a, 1.0 - a], axis=0)


def _resample_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, n) counts: how often each query is drawn in each resample (n draws with replacement)."""
    idx = rng.integers(0, n, size=(n_resamples, n)) + np.arange(n_resamples)[:, None] * n
    return np.bincount(idx.ravel(), minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _count_chunks(rng: np.random.Generator, n: int, n_resamples: int):
    """Resample counts (chunk, n) in chunks of at most _CHUNK_ELEMENTS: memory stays bounded for any n."""
    step = max(1, _CHUNK_ELEMENTS // max(1, n))
    for s in range(0, n_resamples, step):
        yield _resample_counts(rng, n, min(step, n_resamples - s))


def bootstrap_ci(values: dict[str, np.ndarray], *, seed: int, keys: tuple[str, ...] = (),
                 medians: tuple[str, ...] = (), n_resamples: int = N_RESAMPLES) -> dict[str, list[float]]:
    """{metric: [lo, hi]}: 95% bootstrap intervals of the mean over queries (median for `medians`).

    values: metric -> per-query values (all of one length n). With n == 1 the interval is [v, v]."""
    if not values:
        return {}
    n = len(next(iter(values.values())))
    if n == 0:
        return {}
    names = [k for k in values if k not in medians]
    med = [k for k in medians if k in values]
    mat = np.column_stack([np.asarray(values[k], dtype=np.float64) for k in names]) if names else None
    means, meds = [], []
    for counts in _count_chunks(rng_for(seed, *keys), n, n_resamples):  # all metrics share the resamples
        if mat is not None:
            means.append(counts @ mat / n)
        reps = counts.astype(np.int64)
        meds += [[np.median(np.repeat(np.asarray(values[k], dtype=np.float64), r)) for k in med] for r in reps]
    out: dict[str, list[float]] = {}
    if names:
        lohi = _percentiles(np.concatenate(means))
        out.update({k: [float(lohi[0, j]), float(lohi[1, j])] for j, k in enumerate(names)})
    if med:
        lohi = _percentiles(np.array(meds))
        out.update({k: [float(lohi[0, j]), float(lohi[1, j])] for j, k in enumerate(med)})
    return {k: out[k] for k in values if k in out}


def bootstrap_stat_ci(n: int, stat: Callable[[np.ndarray], dict[str, float]], *, seed: int,
                      keys: tuple[str, ...] = (), n_resamples: int = N_RESAMPLES) -> dict[str, list[float]]:
    """{metric: [lo, hi]} of `stat(indices)` (metric -> value) recomputed on resamples of n items."""
    if n == 0:
        return {}
    rng = rng_for(seed, *keys)
    rows: list[dict[str, float]] = [stat(rng.integers(0, n, size=n)) for _ in range(n_resamples)]
    out = {}
    for k in rows[0]:
        lo, hi = _percentiles(np.array([r[k] for r in rows], dtype=np.float64))
        out[k] = [float(lo), float(hi)]
    return out


def paired_test(a: np.ndarray, b: np.ndarray, *, seed: int, keys: tuple[str, ...] = (),
                n_resamples: int = N_RESAMPLES, n_permutations: int = N_PERMUTATIONS) -> dict:
    """Paired comparison of per-query values a and b (same queries, same order): difference of means a - b,
    its 95% paired-bootstrap interval, and the two-sided sign-flip permutation p-value."""
    return paired_strata_test([np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)], seed=seed,
                              keys=keys, n_resamples=n_resamples, n_permutations=n_permutations)


def paired_strata_test(diffs: list[np.ndarray], *, seed: int, keys: tuple[str, ...] = (),
                       n_resamples: int = N_RESAMPLES, n_permutations: int = N_PERMUTATIONS) -> dict:
    """The statistic is the mean over strata (tasks) of each stratum's mean per-query difference, as a family
    score is the mean of its tasks' scores. Bootstrap: queries resampled within each stratum; permutation:
    each query's difference flips sign independently (the null of exchangeable a and b per query)."""
    diffs = [np.asarray(d, dtype=np.float64) for d in diffs]
    if not diffs or any(len(d) == 0 for d in diffs):
        raise ValueError("no shared queries to compare")
    rng = rng_for(seed, "paired", *keys)
    t = len(diffs)
    stat = float(np.mean([d.mean() for d in diffs]))
    boot = sum(np.concatenate([c @ d / len(d) for c in _count_chunks(rng, len(d), n_resamples)]) for d in diffs) / t
    lo, hi = _percentiles(boot)
    # sign flips: one weight vector over all queries, each query's weight 1 / (t * n_stratum)
    w = np.concatenate([d / (t * len(d)) for d in diffs])
    obs = abs(float(w.sum()))
    hits = 0
    step = max(1, _CHUNK_ELEMENTS // len(w))
    for s in range(0, n_permutations, step):
        signs = rng.integers(0, 2, size=(min(step, n_permutations - s), len(w))) * 2 - 1
        hits += int(np.count_nonzero(np.abs(signs @ w) >= obs - 1e-12 * max(1.0, obs)))
    return {"difference": stat, "ci95": [float(lo), float(hi)], "p_value": (hits + 1) / (n_permutations + 1),
            "n_queries": int(sum(len(d) for d in diffs))}
