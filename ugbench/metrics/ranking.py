"""Ranking metrics from the 1-based ranks of each query's relevant documents.

Why ranks: every metric below is a function of where the relevant documents ended up, so the harness
ranks once (with its tie rule, see `rank_order`) and all metrics agree with each other by construction.
Definitions, for one query with relevant set R (binary relevance) and ranks r_1 < r_2 < ... of R
(a relevant document not retrieved within a cutoff has rank = inf):

- Hit@k      = 1 if min_i r_i <= k else 0
- Recall@k   = |{i : r_i <= k}| / |R|
- MRR        = 1 / min_i r_i        (0 when no relevant document is retrieved)
- nDCG@10    = sum_{r_i <= 10} 1/log2(r_i + 1)  /  sum_{j=1}^{min(|R|, 10)} 1/log2(j + 1)

Scores are means over queries. These equal ranx's hit_rate@k, recall@k, mrr and ndcg@10 (binary gains),
which tests check on random runs to 1e-9.

Tie rule (deterministic): documents with equal scores are ordered by a key derived from a hash of
(seed, doc_id), i.e. a fixed pseudo-random order that does not depend on the order of a candidate list.
A model that cannot separate candidates (e.g. all-zero embeddings) therefore scores at chance in
expectation, never better because the data happened to list positives first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)
NDCG_K = 10


def tiebreak_keys(doc_ids: Sequence[str], seed: int) -> np.ndarray:
    """A uint64 key per doc id from blake2b(seed:doc_id): the fixed secondary sort order for ties."""
    out = np.empty(len(doc_ids), dtype=np.uint64)
    prefix = f"{seed}:".encode()
    for i, d in enumerate(doc_ids):
        out[i] = int.from_bytes(hashlib.blake2b(prefix + str(d).encode(), digest_size=8).digest(), "little")
    return out


def rank_order(scores: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices sorting by descending score, ties by ascending key (np.lexsort: last key is primary)."""
    return np.lexsort((keys, -np.asarray(scores, dtype=np.float64)))


def positive_ranks(scores: np.ndarray, keys: np.ndarray, positive_mask: np.ndarray) -> np.ndarray:
    """1-based ranks of the positive candidates under `rank_order`."""
    order = rank_order(scores, keys)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return np.sort(ranks[np.asarray(positive_mask, dtype=bool)]).astype(np.float64)


def query_metrics(ranks: np.ndarray, n_relevant: int, ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """Metrics for one query from the sorted ranks of its relevant documents (inf = not retrieved)."""
    if n_relevant <= 0:
        raise ValueError("a query needs at least one relevant document")
    ranks = np.asarray(ranks, dtype=np.float64)
    first = ranks.min() if ranks.size else np.inf
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit@{k}"] = float(first <= k)
        out[f"recall@{k}"] = float(np.count_nonzero(ranks <= k)) / n_relevant
    out["mrr"] = 0.0 if not np.isfinite(first) else 1.0 / first
    within = ranks[ranks <= NDCG_K]
    dcg = float(np.sum(1.0 / np.log2(within + 1.0)))
    idcg = float(np.sum(1.0 / np.log2(np.arange(1, min(n_relevant, NDCG_K) + 1) + 1.0)))
    out[f"ndcg@{NDCG_K}"] = dcg / idcg
    return out


def ranking_metrics(
    per_query_ranks: Sequence[np.ndarray], n_relevant: Sequence[int], ks: Iterable[int] = DEFAULT_KS
) -> dict[str, float]:
    """Mean of `query_metrics` over queries (each query weighs the same)."""
    ks = tuple(ks)
    if len(per_query_ranks) == 0:
        raise ValueError("no queries to score")
    rows = [query_metrics(r, n, ks) for r, n in zip(per_query_ranks, n_relevant, strict=True)]
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}
