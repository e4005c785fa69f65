"""Retrieval metrics for the StreetSem track, as pure functions of exact ranks.

Definitions (one relevant document per query, as in StreetSem: a query's truth is the view it was written for):
* rank: 1 + number of documents scoring strictly higher than the truth + number of documents scoring equal
  to the truth that come earlier in corpus order (ties broken by corpus index, like a stable sort).
* Recall@k: share of queries with rank <= k.  MRR: mean of 1 / rank over the full ranking (no cut-off).
* within_km(r): share of queries whose top-1 document lies within r km (haversine) of the truth's location.
"""

from __future__ import annotations

import numpy as np

from ugcore.geo import haversine_m


def exact_ranks(q: np.ndarray, d: np.ndarray, truth: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Rank of each query's truth document under inner-product scores (see module docstring for ties)."""
    q = np.ascontiguousarray(q, dtype=np.float32)
    d = np.ascontiguousarray(d, dtype=np.float32)
    truth = np.asarray(truth, dtype=np.int64)
    ranks = np.empty(len(q), dtype=np.int64)
    idx = np.arange(len(d))
    for s in range(0, len(q), chunk):
        sc = q[s : s + chunk] @ d.T
        t = truth[s : s + chunk]
        ts = sc[np.arange(len(t)), t][:, None]
        ranks[s : s + chunk] = 1 + (sc > ts).sum(1) + ((sc == ts) & (idx[None, :] < t[:, None])).sum(1)
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(np.asarray(ranks) <= k)) if len(ranks) else 0.0


def mrr(ranks: np.ndarray) -> float:
    return float(np.mean(1.0 / np.asarray(ranks, dtype=np.float64))) if len(ranks) else 0.0


def within_km(pred_lat, pred_lng, true_lat, true_lng, km: float) -> float:
    if len(pred_lat) == 0:
        return 0.0
    return float(np.mean(haversine_m(pred_lat, pred_lng, true_lat, true_lng) <= km * 1000.0))


def accuracy(pred, truth) -> float:
    pred, truth = np.asarray(pred), np.asarray(truth)
    return float(np.mean(pred == truth)) if len(truth) else 0.0
