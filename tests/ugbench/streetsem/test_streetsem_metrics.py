"""Retrieval metrics against independent computations (scikit-learn; the haversine package; a plain sort).

scikit-learn rather than ranx here: ranx JIT-compiles with numba on first use (~25 s on the CI machine).
"""

import numpy as np
import pytest
from haversine import Unit, haversine
from sklearn.metrics import label_ranking_average_precision_score, top_k_accuracy_score

from ugbench.streetsem import metrics as M
from ugbench.streetsem.evaluation import score_retrieval


def test_ranks_recall_mrr_match_sklearn():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(40, 8)).astype(np.float32)
    d = rng.normal(size=(120, 8)).astype(np.float32)
    truth = rng.integers(0, 120, size=40)
    ranks = M.exact_counts(q, d, truth)
    scores = q @ d.T
    # independent: full argsort per query (no ties in continuous random scores: n_tied is 1)
    for i in range(40):
        order = np.argsort(-scores[i], kind="stable")
        assert ranks[i].tolist() == [int(np.where(order == truth[i])[0][0]), 1]
    labels = np.arange(120)
    for k in (10, 20, 50):  # one relevant document per query: Recall@k == top-k accuracy
        ref = top_k_accuracy_score(truth, scores, k=k, labels=labels)
        assert abs(M.recall_at_k(ranks, k) - ref) < 1e-9
    onehot = np.zeros_like(scores, dtype=int)
    onehot[np.arange(40), truth] = 1  # with a single positive, LRAP == reciprocal rank
    assert abs(M.mrr(ranks) - label_ranking_average_precision_score(onehot, scores)) < 1e-9


def test_within_km_matches_haversine_package():
    rng = np.random.default_rng(1)
    lat1, lng1 = 39.9 + rng.normal(0, 0.03, 200), 116.4 + rng.normal(0, 0.03, 200)
    lat2, lng2 = 39.9 + rng.normal(0, 0.03, 200), 116.4 + rng.normal(0, 0.03, 200)
    ref = [haversine((a, b), (c, e), unit=Unit.KILOMETERS) for a, b, c, e in zip(lat1, lng1, lat2, lng2, strict=True)]
    for km in (1.0, 5.0):
        assert M.within_km(lat1, lng1, lat2, lng2, km) == np.mean(np.array(ref) <= km)
    assert 0 < M.within_km(lat1, lng1, lat2, lng2, 5.0) <= 1


def test_score_retrieval_breakdown_and_faiss_top1():
    rng = np.random.default_rng(2)
    d = rng.normal(size=(30, 6)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    truth = np.repeat(np.arange(30), 5)
    q = d[truth] + 0.05 * rng.normal(size=(150, 6)).astype(np.float32)
    qtype = np.tile(np.array(["atmosphere", "activity", "object", "geography", "creativity"]), 30)
    lat, lng = 39.9 + rng.random(30) * 0.1, 116.4 + rng.random(30) * 0.1
    s = score_retrieval(q, truth, qtype, d, lat, lng)
    assert s["recall_at_10"] == 1.0 and s["n_queries"] == 150
    assert s["mrr"] > 0.9 and s["top1_within_1km"] >= s["mrr"] - 0.1
    assert s["object/n_queries"] == 30 and "creativity/recall_at_50" in s
    shuffled = score_retrieval(q, rng.permutation(truth), qtype, d, lat, lng)
    assert shuffled["mrr"] < 0.5


def test_constant_embeddings_score_exactly_chance_and_ignore_corpus_order():
    n = 60
    q, d = np.zeros((n, 4), np.float32), np.zeros((n, 4), np.float32)
    truth = np.arange(n)
    counts = M.exact_counts(q, d, truth)
    assert counts.tolist() == [[0, n]] * n
    for k in (10, 20, 50):
        assert M.recall_at_k(counts, k) == pytest.approx(k / n, abs=1e-15)
    assert M.mrr(counts) == pytest.approx(sum(1 / j for j in range(1, n + 1)) / n, abs=1e-12)
    # the old rule (ties by corpus index) gave truth 0 rank 1; now every truth scores the same
    rng = np.random.default_rng(0)
    lat, lng = 39.9 + rng.random(n) * 0.1, 116.4 + rng.random(n) * 0.1
    s = score_retrieval(q, truth, np.array(["object"] * n), d, lat, lng)
    assert s["recall_at_10"] == pytest.approx(10 / n) and s["mrr"] == pytest.approx(M.mrr(counts))
    # top-1 within 5 km: the share of all (tied) views within 5 km of the truth, averaged over queries
    dist = np.array([[haversine((a, b), (c, e), unit=Unit.KILOMETERS) for c, e in zip(lat, lng, strict=True)]
                     for a, b in zip(lat, lng, strict=True)])
    assert s["top1_within_5km"] == pytest.approx(float(np.mean(dist <= 5.0)), abs=1e-9)
