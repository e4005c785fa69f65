"""Retrieval metrics for the StreetSem track, as pure functions of exact tie counts.

Definitions (one relevant document per query, as in StreetSem: a query's truth is the view it was written for):
* counts: per query, (n_better, n_tied) = documents scoring strictly higher than the truth, and documents
  scoring equal to it (the truth included), over the full corpus by exact inner product.
* Ties follow ugcore.ranking's rule (the one rule of every ranking metric in this repository): the truth's rank
  is uniform on [n_better + 1, n_better + n_tied] and each metric is its expected value, so constant
  embeddings score exactly chance (Recall@k = k/n, MRR = H(n)/n) and the corpus order never matters.
* Recall@k: mean P(rank <= k).  MRR: mean E[1 / rank] over the full ranking (no cut-off).
* within_km(r): share of queries whose top-1 document lies within r km (haversine) of the truth's location;
  with several documents tied at the top, the share of them within r km (`top1_within`).
"""

from __future__ import annotations

import numpy as np

from ugcore.geo import haversine_m
from ugcore.ranking import expected_first_rr, prob_within, score_blocks, tie_counts


def exact_counts(q: np.ndarray, d: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n_q, 2) int64: n_better and n_tied of each query's truth document under inner-product scores."""
    truth = np.asarray(truth, dtype=np.int64)
    out = np.empty((len(q), 2), dtype=np.int64)
    for s, sc in score_blocks(q, d):
        rows = np.arange(len(sc))
        out[s : s + len(sc), 0], out[s : s + len(sc), 1] = tie_counts(sc, sc[rows, truth[s : s + len(sc)]])
    return out


def top1_within(q: np.ndarray, d: np.ndarray, truth: np.ndarray, d_lat, d_lng, kms) -> np.ndarray:
    """(n_q, len(kms)): probability that the top-1 document (uniform over those tied at the top) lies within
    each radius of the truth's location."""
    truth = np.asarray(truth, dtype=np.int64)
    d_lat, d_lng = np.asarray(d_lat, dtype=np.float64), np.asarray(d_lng, dtype=np.float64)
    radii = np.asarray(kms, dtype=np.float64) * 1000.0
    out = np.empty((len(q), len(radii)))
    for s, sc in score_blocks(q, d):
        top = sc.max(axis=1)
        for r in range(len(sc)):
            t = truth[s + r]
            docs = np.flatnonzero(sc[r] == top[r])
            dist = np.atleast_1d(haversine_m(d_lat[docs], d_lng[docs], d_lat[t], d_lng[t]))
            out[s + r] = np.mean(dist[:, None] <= radii[None, :], axis=0)
    return out


def recall_at_k(counts: np.ndarray, k: int) -> float:
    counts = np.asarray(counts).reshape(-1, 2)
    return float(np.mean(prob_within(counts[:, 0], counts[:, 1], k))) if len(counts) else 0.0


def mrr(counts: np.ndarray) -> float:
    counts = np.asarray(counts).reshape(-1, 2)
    if not len(counts):
        return 0.0
    return float(np.mean(expected_first_rr(counts[:, 0], counts[:, 1], np.ones(len(counts), dtype=np.int64))))


def within_km(pred_lat, pred_lng, true_lat, true_lng, km: float) -> float:
    if len(pred_lat) == 0:
        return 0.0
    return float(np.mean(haversine_m(pred_lat, pred_lng, true_lat, true_lng) <= km * 1000.0))


def accuracy(pred, truth) -> float:
    pred, truth = np.asarray(pred), np.asarray(truth)
    return float(np.mean(pred == truth)) if len(truth) else 0.0
