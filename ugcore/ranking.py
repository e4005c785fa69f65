"""The one tie rule of every ranking metric in this repository (ugbench's tasks, StreetSem, uge.quick_eval).

Rule: a score is the EXPECTED value of the metric over all orderings of tied documents, each ordering equally
likely. A relevant document with n_better documents scoring strictly higher and n_tied scoring equal (itself
included) has a rank uniform on [n_better + 1, n_better + n_tied]; every metric is computed exactly from these
counts, never by drawing one ordering. This is the "tie-aware" evaluation of McSherry & Najork (ECIR 2008,
"Computing information retrieval performance measures efficiently in the presence of tied scores").

Why this rule and not a tie-breaker:
- A model that cannot separate documents scores exactly chance: all-zero or constant embeddings give
  hit@k = k/n, MRR = H(n)/n, ... on every query, with no seed and no sampling noise. Breaking ties in favour
  of the positive (the old uge.quick_eval rule) scored all-zero embeddings 1.0; breaking them by corpus
  index (the old StreetSem rule) rewarded a data set that happened to list positives first; a seeded random
  order (the old ugbench rule) was at chance only on average over queries and moved with the seed.
- It does not depend on the order of a candidate list or corpus, nor on document ids: permuting the
  candidates leaves every score unchanged, bit for bit.
- It needs only counts, so it stays vectorised (numpy comparisons) and memory-bounded: the global protocol
  scores query blocks against the corpus (`score_blocks`) and never holds a (queries x corpus) matrix.

Other tools differ, so their numbers match ours only when there are no ties: trec_eval breaks ties by
document id (docno), ranx by the order its sort leaves tied documents in. A ranx or trec_eval cross-check
(issue 14) therefore needs tie-free runs, or the expected-rank variant computed as here.

Definitions for one query with r positives (binary relevance); b, m, p below are n_better, n_tied and the
number of positives inside that tie group:
- recall@k (linear): each positive is within the top k with probability clip((k - b) / m, 0, 1).
- DCG@K (linear): each positive adds (1/m) * sum of 1/log2(j + 1) over j in [b + 1, min(b + m, K)].
- hit@k and MRR depend on the first relevant rank: the best tie group holding a positive, with p positives
  among its m documents. The first positive's offset J in the group has P(J > t) = C(m-t, p) / C(m, p),
  so hit@k = 1 - P(J > k - b) and MRR = sum_j P(J = j) / (b + j) (only ranks <= depth count, when a depth
  cut-off is given). With p = 1 these are clip((k-b)/m, 0, 1) and (H(b+m) - H(b)) / m.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BLOCK_ELEMENTS = 1 << 24  # scores per block in `score_blocks`: 64 MiB of float32 at most


def score_blocks(q: np.ndarray, d: np.ndarray, *, max_elements: int = BLOCK_ELEMENTS) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first query index, inner-product scores of a block of queries against all of `d`, float32).

    A block holds at most max(1, max_elements // len(d)) queries, so memory stays bounded for any corpus size.
    Hand-written instead of a faiss top-k search on purpose: the tie rule needs, per positive, the exact count
    of documents scoring strictly higher and equal over the WHOLE corpus, which a top-k list cannot give at its
    cut-off; blocked exact inner products (as MTEB's corpus chunks) give it with bounded memory.
    """
    q = np.ascontiguousarray(q, dtype=np.float32)
    d = np.ascontiguousarray(d, dtype=np.float32)
    step = max(1, int(max_elements) // max(1, len(d)))
    for s in range(0, len(q), step):
        yield s, q[s : s + step] @ d.T


def tie_counts(scores: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per value: how many `scores` are strictly greater, and how many are equal (the item itself included).

    scores (n,) with values (p,) -> two (p,) int64 arrays; scores (q, n) with values (q,) -> two (q,) arrays.
    """
    scores = np.asarray(scores)
    values = np.asarray(values, dtype=scores.dtype)
    if scores.ndim == 1:
        s, v = scores[None, :], values[:, None]
    else:
        s, v = scores, values[:, None]
    return np.count_nonzero(s > v, axis=1).astype(np.int64), np.count_nonzero(s == v, axis=1).astype(np.int64)


def prob_within(n_better, n_tied, k: float) -> np.ndarray:
    """P(rank <= k) for a document whose rank is uniform on [n_better + 1, n_better + n_tied]."""
    b = np.asarray(n_better, dtype=np.float64)
    m = np.asarray(n_tied, dtype=np.float64)
    return np.clip((k - b) / m, 0.0, 1.0)


def _prefix(weights_upto: int, fn) -> np.ndarray:
    """P[i] = sum of fn(j) for j = 1..i (P[0] = 0)."""
    j = np.arange(1, weights_upto + 1, dtype=np.float64)
    return np.concatenate([[0.0], np.cumsum(fn(j))])


def expected_gain(n_better, n_tied, fn, cutoff: int) -> np.ndarray:
    """E[fn(rank) if rank <= cutoff else 0] for rank uniform on [n_better + 1, n_better + n_tied]."""
    b = np.asarray(n_better, dtype=np.int64)
    m = np.asarray(n_tied, dtype=np.int64)
    table = _prefix(int(cutoff), fn)
    lo, hi = np.minimum(b, cutoff), np.minimum(b + m, cutoff)
    out = (table[hi] - table[lo]) / m
    single = (m == 1) & (b < cutoff)  # the tie-free case exactly as fn(rank), not as a difference of sums
    out[single] = fn((b[single] + 1).astype(np.float64))
    return out


def expected_first_hit(n_better, n_tied, n_pos_tied, k: float) -> np.ndarray:
    """P(first relevant rank <= k): the best tie group holding a positive has n_better above it, n_tied
    documents and n_pos_tied positives; P(first offset J > t) = C(m-t, p) / C(m, p)."""
    b = np.asarray(n_better, dtype=np.int64)
    m = np.asarray(n_tied, dtype=np.int64)
    p = np.asarray(n_pos_tied, dtype=np.int64)
    t = np.clip(np.floor(k) - b, 0, m).astype(np.int64)
    miss = np.ones(b.shape, dtype=np.float64)
    for i in range(int(p.max()) if p.size else 0):  # prod_{i<p} (m - t - i) / (m - i)
        use = i < p
        miss[use] *= np.maximum(m[use] - t[use] - i, 0) / (m[use] - i)
    return 1.0 - miss


def expected_first_rr(n_better, n_tied, n_pos_tied, depth: int | None = None) -> np.ndarray:
    """E[1 / first relevant rank], counting 0 for a first rank beyond `depth` (None: no cut-off)."""
    b = np.asarray(n_better, dtype=np.int64)
    m = np.asarray(n_tied, dtype=np.int64)
    p = np.asarray(n_pos_tied, dtype=np.int64)
    top = int((b + m).max()) if b.size else 0
    cut = top if depth is None else min(int(depth), top)
    out = expected_gain(b, m, lambda j: 1.0 / j, cut) if b.size else np.zeros(0)
    for i in np.flatnonzero(p > 1):  # several positives share the group: the first offset J is not uniform
        bi, mi, pi = int(b[i]), int(m[i]), int(p[i])
        jmax = min(mi - pi + 1, cut - bi)
        if jmax < 1:
            out[i] = 0.0
            continue
        j = np.arange(1, jmax + 1, dtype=np.float64)
        # P(J = j) = C(m-j, p-1) / C(m, p): P(J=1) = p/m, ratio P(J=j+1)/P(J=j) = (m-j-p+1)/(m-j)
        ratio = np.concatenate([[pi / mi], (mi - j[:-1] - pi + 1) / (mi - j[:-1])])
        out[i] = float(np.sum(np.cumprod(ratio) / (bi + j)))
    return out
