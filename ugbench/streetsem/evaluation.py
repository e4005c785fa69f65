"""Score StreetSem retrieval from embeddings: exact inner-product search (faiss IndexFlatIP) + exact ranks.

Protocol (documented because the paper does not fix it): the corpus is every (image, fov) view of the
evaluated split; each view contributes its five queries, whose single relevant document is that view.
Scores are reported overall and per query type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics as M
from .data import QUERY_TYPES

KS = (10, 20, 50)
WITHIN_KM = (1.0, 5.0)


def flat_ip_top1(q: np.ndarray, d: np.ndarray, k: int = 1) -> np.ndarray:
    """Exact top-k by inner product with faiss IndexFlatIP (ids, shape (n_q, k))."""
    import faiss

    d = np.ascontiguousarray(d, dtype=np.float32)
    index = faiss.IndexFlatIP(d.shape[1])
    index.add(d)
    _, ids = index.search(np.ascontiguousarray(q, dtype=np.float32), min(k, len(d)))
    return ids


def score_retrieval(
    q_emb: np.ndarray,
    q_truth: np.ndarray,
    q_type: np.ndarray,
    d_emb: np.ndarray,
    d_lat: np.ndarray,
    d_lng: np.ndarray,
) -> dict[str, Any]:
    """Recall@{10,20,50}, MRR and within-{1,5} km of the top-1, overall and per query type."""
    q_truth = np.asarray(q_truth, dtype=np.int64)
    ranks = M.exact_ranks(q_emb, d_emb, q_truth)
    top1 = flat_ip_top1(q_emb, d_emb, 1)[:, 0]
    out: dict[str, Any] = {}

    def block(mask: np.ndarray) -> dict[str, float]:
        r = ranks[mask]
        res = {f"recall_at_{k}": M.recall_at_k(r, k) for k in KS}
        res["mrr"] = M.mrr(r)
        t = q_truth[mask]
        p = top1[mask]
        for km in WITHIN_KM:
            res[f"top1_within_{km:g}km"] = M.within_km(d_lat[p], d_lng[p], d_lat[t], d_lng[t], km)
        res["n_queries"] = int(mask.sum())
        return res

    out.update(block(np.ones(len(q_truth), dtype=bool)))
    types = np.asarray(q_type).astype(str)
    for qt in QUERY_TYPES:
        mask = types == qt
        if mask.any():
            for k, v in block(mask).items():
                out[f"{qt}/{k}"] = v
    out["n_documents"] = int(len(d_emb))
    out["main_score"] = out["recall_at_10"]
    return out


def expand_queries(q_vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 5, d) per-view query vectors -> flat (5n, d), truth index per query, query type per query."""
    n = q_vec.shape[0]
    flat = q_vec.reshape(n * len(QUERY_TYPES), -1)
    truth = np.repeat(np.arange(n), len(QUERY_TYPES))
    qtype = np.tile(np.array(QUERY_TYPES, dtype=object), n)
    return flat, truth, qtype
