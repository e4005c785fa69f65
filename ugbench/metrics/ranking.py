"""Ranking metrics from where each query's relevant documents rank.

Why ranks: every metric below is a function of where the relevant documents ended up, so the harness
counts once per positive (documents strictly above it, documents tied with it) and all metrics agree with
each other by construction. Definitions on a tie-free ranking, for one query with relevant set R (binary relevance) and ranks r_1 < r_2 < ... of R
(a relevant document not retrieved within a cutoff has rank = inf):

- Hit@k      = 1 if min_i r_i <= k else 0
- Recall@k   = |{i : r_i <= k}| / |R|
- MRR        = 1 / min_i r_i        (0 when no relevant document is retrieved)
- nDCG@10    = sum_{r_i <= 10} 1/log2(r_i + 1)  /  sum_{j=1}^{min(|R|, 10)} 1/log2(j + 1)

Scores are means over queries. On tie-free rankings these equal ranx's hit_rate@k, recall@k, mrr and
ndcg@10 (binary gains), which tests check on random runs to 1e-9.

Tie rule: ugcore.ranking's, the one rule of every ranking metric here: each metric is its EXPECTED value over
all orderings of tied documents (a positive with b documents strictly above it and m tied with it, itself
included, has a rank uniform on [b+1, b+m]). Deterministic (no seed), independent of the order of a candidate
list, and a model that cannot separate candidates (all-zero or constant embeddings) scores exactly chance.
ranx and trec_eval break ties by sorting instead, so they agree with these numbers only on tie-free runs.
`tiebreak_keys` / `rank_order` give a fixed order for DISPLAY only (the retrieval-grid figure must draw some
order); no metric depends on them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from ugcore.ranking import expected_first_hit, expected_first_rr, expected_gain, prob_within, tie_counts

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)
NDCG_K = 10


def tiebreak_keys(doc_ids: Sequence[str], seed: int) -> np.ndarray:
    """A uint64 key per doc id from blake2b(seed:doc_id): a fixed display order for ties (figures only)."""
    out = np.empty(len(doc_ids), dtype=np.uint64)
    prefix = f"{seed}:".encode()
    for i, d in enumerate(doc_ids):
        out[i] = int.from_bytes(hashlib.blake2b(prefix + str(d).encode(), digest_size=8).digest(), "little")
    return out


def rank_order(scores: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices sorting by descending score, ties by ascending key (display only; np.lexsort: last key is primary)."""
    return np.lexsort((keys, -np.asarray(scores, dtype=np.float64)))


def positive_counts(scores: np.ndarray, positive_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each positive candidate of one query: (n_better, n_tied, positives in its tie group)."""
    scores = np.asarray(scores)
    pos = scores[np.asarray(positive_mask, dtype=bool)]
    b, m = tie_counts(scores, pos)
    return b, m, np.count_nonzero(pos[:, None] == pos[None, :], axis=1).astype(np.int64)


def count_metrics(n_better, n_tied, n_pos_tied, n_relevant: int, ks: Iterable[int] = DEFAULT_KS,
                  depth: int | None = None) -> dict[str, float]:
    """Expected metrics of one query from its positives' tie counts (see the module docstring).

    Positives that are absent from the arrays count as not retrieved; `depth` (global protocol) makes a first
    relevant rank beyond it add 0 to MRR, as a document never retrieved does.
    """
    if n_relevant <= 0:
        raise ValueError("a query needs at least one relevant document")
    b = np.asarray(n_better, dtype=np.int64)
    m = np.asarray(n_tied, dtype=np.int64)
    out: dict[str, float] = {}
    if b.size:
        f = int(np.argmin(b))  # the best tie group holding a positive
        first = (b[f : f + 1], m[f : f + 1], np.asarray(n_pos_tied, dtype=np.int64)[f : f + 1])
    for k in ks:
        out[f"hit@{k}"] = float(expected_first_hit(*first, k)[0]) if b.size else 0.0
        out[f"recall@{k}"] = float(np.sum(prob_within(b, m, k))) / n_relevant
    out["mrr"] = float(expected_first_rr(*first, depth)[0]) if b.size else 0.0
    dcg = float(np.sum(expected_gain(b, m, lambda j: 1.0 / np.log2(j + 1.0), NDCG_K))) if b.size else 0.0
    idcg = float(np.sum(1.0 / np.log2(np.arange(1, min(n_relevant, NDCG_K) + 1) + 1.0)))
    out[f"ndcg@{NDCG_K}"] = dcg / idcg
    return out


def query_metrics(ranks: np.ndarray, n_relevant: int, ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """Metrics for one query from distinct 1-based ranks of its relevant documents (inf = not retrieved)."""
    r = np.asarray(ranks, dtype=np.float64)
    r = r[np.isfinite(r)].astype(np.int64)
    one = np.ones(r.size, dtype=np.int64)
    return count_metrics(r - 1, one, one, n_relevant, ks)


def ranking_metrics(
    per_query_ranks: Sequence[np.ndarray], n_relevant: Sequence[int], ks: Iterable[int] = DEFAULT_KS
) -> dict[str, float]:
    """Mean of `query_metrics` over queries (each query weighs the same; tie-free ranks)."""
    ks = tuple(ks)
    if len(per_query_ranks) == 0:
        raise ValueError("no queries to score")
    rows = [query_metrics(r, n, ks) for r, n in zip(per_query_ranks, n_relevant, strict=True)]
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}
