"""The global protocol's blocked scoring gives the same tie counts, hence the same metrics, as one full score matrix.

Why: the runner never holds a (queries x corpus) matrix (ugcore.ranking.score_blocks), so its numbers must not
depend on how many queries share a block; benchmarks/global_retrieval_scale.py checks this at 10^6 documents,
this test in milliseconds on a corpus built to tie: small-integer embeddings (float32 products are exact, so
ties are exact whatever BLAS does), duplicate and all-zero documents, queries with one to three positives.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import ugbench.runners.ranking as runner
from ugbench.metrics.ranking import DEFAULT_KS, count_metrics
from ugcore.ranking import score_blocks, tie_counts


def _tied_task(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    d = rng.integers(-1, 2, size=(60, 3)).astype(np.float32)  # 27 distinct vectors: many exact ties
    d[10:14] = d[3]  # duplicates of one document
    d[20:23] = 0.0  # all-zero documents tie with each other at score 0
    q = rng.integers(-1, 2, size=(23, 3)).astype(np.float32)
    q[0] = 0.0  # a query that ties every document
    pos = [np.sort(rng.choice(60, size=1 + i % 3, replace=False)) for i in range(len(q))]
    pos[1] = np.array([3, 11])  # two positives inside one tie group
    pos[2] = np.array([20])  # a zero positive
    return q, d, pos


def _full_counts(q: np.ndarray, d: np.ndarray, pos: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    scores = q @ d.T  # the unchunked reference: one matrix, each query's full row
    out = []
    for r, p in enumerate(pos):
        v = scores[r, p]
        b, m = tie_counts(scores[r], v)
        out.append((b, m, np.count_nonzero(v[:, None] == v[None, :], axis=1)))
    return out


@pytest.mark.parametrize("per_block", [1, 2, 5, 23, 100])
def test_blocked_global_counts_equal_the_full_matrix(per_block, monkeypatch):
    q, d, pos = _tied_task()
    monkeypatch.setattr(runner, "score_blocks", functools.partial(score_blocks, max_elements=per_block * len(d)))
    blocked = runner._global_counts(q, d, pos, None, np.arange(len(q)), np.arange(len(d)), None, runner.GLOBAL_DEPTH)
    full = _full_counts(q, d, pos)
    assert any(int(m.max()) > 1 for _, m, _ in full)  # the data do tie
    for a, b in zip(blocked, full, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    for a, b, p in zip(blocked, full, pos, strict=True):
        assert count_metrics(*a, len(p), DEFAULT_KS, runner.GLOBAL_DEPTH) == count_metrics(
            *b, len(p), DEFAULT_KS, runner.GLOBAL_DEPTH)


def test_score_blocks_never_exceed_max_elements():
    q, d, _ = _tied_task()
    blocks = list(score_blocks(q, d, max_elements=4 * len(d) + 3))
    assert [s for s, _ in blocks] == list(range(0, len(q), 4))
    assert all(b.size <= 4 * len(d) + 3 and b.dtype == np.float32 for _, b in blocks)
