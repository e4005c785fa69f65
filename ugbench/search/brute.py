"""Brute-force reference: score every object (numpy), single query or a batch as one GEMM.

Screening uses float32 inner products; every object within SCREEN_MARGIN of the k-th screened score is
re-scored with the canonical float64 `exact_scores`, so the result is exact under the documented ranking.
"""

from __future__ import annotations

import numpy as np

from .scoring import SCREEN_MARGIN, GeoSpace, dst_from_dist, exact_scores, rank_topk


def _finish(
    space: GeoSpace, vectors: np.ndarray, ids: np.ndarray, q_xy, q_vec, sims32, k, mu, dist, dmax
) -> tuple[np.ndarray, np.ndarray]:
    f = mu * dst_from_dist(dist, dmax) + (1.0 - mu) * sims32
    kk = min(k, len(f))
    kth = np.partition(f, len(f) - kk)[len(f) - kk]
    rows = np.flatnonzero(f >= kth - SCREEN_MARGIN)
    scores = exact_scores(vectors, rows, q_vec, dist[rows], dmax, mu)
    return rank_topk(ids[rows], scores, k)


def brute_force(
    space: GeoSpace,
    vectors: np.ndarray,
    ids: np.ndarray,
    q_xy: np.ndarray,
    q_vec: np.ndarray,
    k: int,
    mu: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (ids, scores) of one query by scoring all objects. q_vec must be unit-norm."""
    dist = space.distances(q_xy)
    dmax = space.d_max(q_xy)  # the shared exact d_max (same value as dist.max())
    sims = vectors @ np.asarray(q_vec, dtype=np.float32)
    return _finish(space, vectors, ids, q_xy, q_vec, sims, k, mu, dist, dmax)


def brute_force_batch(
    space: GeoSpace,
    vectors: np.ndarray,
    ids: np.ndarray,
    q_xy: np.ndarray,
    q_vecs: np.ndarray,
    k: int,
    mu: float,
    batch: int = 128,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact top-k for many queries; the semantic part is one float32 GEMM per batch of queries."""
    out = []
    for s in range(0, len(q_xy), batch):
        sims = vectors @ np.asarray(q_vecs[s : s + batch], dtype=np.float32).T  # (n, b)
        for j in range(sims.shape[1]):
            dist = space.distances(q_xy[s + j])
            out.append(
                _finish(
                    space,
                    vectors,
                    ids,
                    q_xy[s + j],
                    q_vecs[s + j],
                    sims[:, j],
                    k,
                    mu,
                    dist,
                    space.d_max(q_xy[s + j]),
                )
            )
    return out
