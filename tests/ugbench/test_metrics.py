"""Metrics: exact definitions, cross-checked against ranx (an independent implementation) to 1e-9 on tie-free
runs; the tie rule (ugcore.ranking: expected value over orderings of ties) against brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ugbench.metrics.geo import geo_metrics
from ugbench.metrics.probe import pairwise_choice_accuracy, regression_scores
from ugbench.metrics.ranking import count_metrics, positive_counts, query_metrics, ranking_metrics
from ugcore.geo import haversine_m
from ugcore.ranking import score_blocks


def _random_run(seed: int, n_queries: int = 60):
    rng = np.random.default_rng(seed)
    qrels, run, ranks, nrel = {}, {}, [], []
    for q in range(n_queries):
        n = int(rng.integers(2, 40))
        docs = [f"d{q}_{i}" for i in range(n)]
        scores = rng.random(n)  # continuous: no ties, so every implementation ranks the same way
        rel = rng.random(n) < rng.uniform(0.05, 0.5)
        rel[int(rng.integers(n))] = True
        qrels[f"q{q}"] = {d: 1 for d, r in zip(docs, rel, strict=True) if r}
        run[f"q{q}"] = {d: float(s) for d, s in zip(docs, scores, strict=True)}
        ranks.append(np.sort(np.argsort(np.argsort(-scores))[rel] + 1.0))
        nrel.append(int(rel.sum()))
    return qrels, run, ranks, nrel


@pytest.mark.parametrize("seed", [0, 1])
def test_ranking_metrics_match_ranx(seed):
    from ranx import Qrels, Run, evaluate

    qrels, run, ranks, nrel = _random_run(seed)
    ours = ranking_metrics(ranks, nrel)
    names = {f"hit@{k}": f"hit_rate@{k}" for k in (1, 3, 5, 10)}
    names |= {f"recall@{k}": f"recall@{k}" for k in (1, 3, 5, 10)}
    names |= {"mrr": "mrr", "ndcg@10": "ndcg@10"}
    theirs = evaluate(Qrels(qrels), Run(run), list(names.values()), make_comparable=True)
    for ours_name, ranx_name in names.items():
        assert ours[ours_name] == pytest.approx(float(theirs[ranx_name]), abs=1e-9), ours_name
    # the run is not degenerate: the metrics are strictly between 0 and 1
    assert 0 < ours["hit@1"] < ours["hit@10"] < 1


def test_query_metrics_by_hand():
    m = query_metrics(np.array([2.0, 5.0]), 2, ks=(1, 3, 5))
    assert m["hit@1"] == 0 and m["hit@3"] == 1 and m["recall@3"] == 0.5 and m["recall@5"] == 1.0
    assert m["mrr"] == 0.5
    assert m["ndcg@10"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(6)) / (1 + 1 / np.log2(3)))
    # not retrieved (global protocol beyond the depth): counts zero
    assert query_metrics(np.array([np.inf]), 1)["mrr"] == 0.0


def _brute_force(scores, rel, ks=(1, 3, 5, 10), depth=None):
    """Mean of the tie-free metrics over EVERY ordering of the tied candidates (itertools; small lists only)."""
    scores, rel = np.asarray(scores, dtype=np.float64), np.asarray(rel, dtype=bool)
    groups = [np.flatnonzero(scores == v) for v in sorted(set(scores.tolist()), reverse=True)]
    rows = []
    for perms in itertools.product(*[itertools.permutations(g) for g in groups]):
        order = np.concatenate([np.array(p, dtype=np.int64) for p in perms])
        ranks = np.flatnonzero(rel[order]) + 1.0
        if depth is not None:
            ranks = np.where(ranks <= depth, ranks, np.inf)
        rows.append(query_metrics(ranks, int(rel.sum()), ks))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


@pytest.mark.parametrize("case", [
    ([0.5, 0.5, 0.5, 0.5, 0.1], [1, 0, 0, 0, 0]),  # one positive tied with three
    ([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1], [0, 1, 0, 1, 0, 0, 1]),  # two positives in one tie group, one below
    ([0.2, 0.2, 0.2, 0.2, 0.2, 0.2], [1, 1, 0, 1, 0, 0]),  # everything tied, three positives
    ([0.7, 0.3, 0.3, 0.7, 0.3, 0.3, 0.3, 0.0], [0, 0, 1, 1, 1, 0, 0, 0]),
    ([0.9, 0.89, 0.88, 0.87, 0.86, 0.85, 0.84, 0.83, 0.4, 0.4, 0.4, 0.4, 0.4], [0] * 10 + [1, 0, 1]),  # across @10
])
def test_tie_rule_equals_mean_over_all_orderings(case):
    scores, rel = case
    ours = count_metrics(*positive_counts(np.array(scores), np.array(rel, bool)), sum(rel))
    for name, value in _brute_force(scores, rel).items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name


def test_tie_rule_with_depth_cut_off_equals_brute_force():
    scores, rel = [0.9, 0.9, 0.5, 0.5, 0.5, 0.5], [0, 0, 1, 0, 1, 0]
    ours = count_metrics(*positive_counts(np.array(scores), np.array(rel, bool)), 2, ks=(1, 3), depth=4)
    assert ours["mrr"] == pytest.approx(_brute_force(scores, rel, ks=(1, 3), depth=4)["mrr"], abs=1e-12)


def _chance(n, p, ks=(1, 3, 5, 10)):
    """Analytic chance for a query with n candidates, p positives, all tied (math.comb, independent of numpy)."""
    out = {}
    for k in ks:
        out[f"hit@{k}"] = 1 - math.comb(n - min(k, n), p) / math.comb(n, p)
        out[f"recall@{k}"] = min(k, n) / n
    out["mrr"] = sum(math.comb(n - j, p - 1) / math.comb(n, p) / j for j in range(1, n - p + 2))
    disc = [1 / math.log2(j + 1) for j in range(1, 11)]
    out["ndcg@10"] = p / n * sum(disc[: min(n, 10)]) / sum(disc[: min(p, 10)])
    return out


@pytest.mark.parametrize("n,p", [(1, 1), (2, 1), (10, 1), (10, 3), (37, 5), (200, 1), (1000, 12)])
def test_constant_scores_score_exactly_chance(n, p):
    rel = np.zeros(n, bool)
    rel[np.random.default_rng(n).choice(n, p, replace=False)] = True
    ours = count_metrics(*positive_counts(np.zeros(n, np.float32), rel), p)
    for name, value in _chance(n, p).items():
        assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_ties_are_order_independent_and_deterministic():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=30).astype(np.float32)  # many ties
    rel = rng.random(30) < 0.2
    rel[0] = True
    base = count_metrics(*positive_counts(scores, rel), int(rel.sum()))
    for _ in range(5):
        perm = rng.permutation(30)
        assert count_metrics(*positive_counts(scores[perm], rel[perm]), int(rel.sum())) == base


def test_random_scores_are_at_chance():
    # 4,000 queries, 20 candidates, 1 positive, i.i.d. normal scores: hit@1 ~ 1/20, MRR ~ H(20)/20
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(4000):
        rel = np.zeros(20, bool)
        rel[rng.integers(20)] = True
        rows.append(count_metrics(*positive_counts(rng.normal(size=20), rel), 1))
    chance = _chance(20, 1)
    for name in ("hit@1", "hit@5", "mrr", "ndcg@10"):
        assert abs(np.mean([r[name] for r in rows]) - chance[name]) < 0.015, name


def test_score_blocks_bound_memory_and_match_full_product():
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=(30, 4)).astype(np.float32)
    blocks = list(score_blocks(q, d, max_elements=100))  # 100 // 30 = 3 queries per block
    assert max(len(b) for _, b in blocks) == 3 and sum(len(b) for _, b in blocks) == 50
    np.testing.assert_allclose(np.concatenate([b for _, b in blocks]), q @ d.T, rtol=1e-6)


def test_geo_metrics():
    lat = np.array([60.0, 60.0, 60.0])
    lon = np.array([25.0, 25.0, 25.0])
    plat = lat + np.array([0.0, 0.0008, 0.02])  # 0 m, ~89 m, ~2.2 km north
    m = geo_metrics(lat, lon, plat, lon)
    d = haversine_m(lat, lon, plat, lon)
    assert m["median_error_m"] == pytest.approx(float(np.median(d)))
    assert m["acc@50m"] == pytest.approx(1 / 3) and m["acc@100m"] == pytest.approx(2 / 3)
    assert m["acc@1000m"] == pytest.approx(2 / 3) and m["acc@5000m"] == 1.0
    assert m["acc@25m"] == pytest.approx(1 / 3) and m["acc@250m"] == pytest.approx(2 / 3)


def test_city_scale_geoscore_hand_case():
    """geoscore@1km = mean of 5000 * exp(-d / 1000 m) (docs/tasks.md): errors of 0 m, 1 km and 2 km score
    5000, 5000/e and 5000/e^2; a 1 km error is exactly 5000/e whatever the place."""
    from ugbench.metrics.geo import geoscore, top_tie_geo

    assert geoscore([0.0, 1000.0, 2000.0]) == pytest.approx([5000.0, 5000 / math.e, 5000 / math.e ** 2])
    lat, lon = np.array([60.0, 60.0, 60.0]), np.array([25.0, 25.0, 25.0])
    # north by 0, 1000 and 2000 m of great-circle distance (mean Earth radius 6,371,008.8 m)
    plat = lat + np.degrees(np.array([0.0, 1000.0, 2000.0]) / 6371008.8)
    m = geo_metrics(lat, lon, plat, lon)
    assert m["geoscore@1km"] == pytest.approx(5000 * (1 + math.exp(-1) + math.exp(-2)) / 3, rel=1e-9)
    assert m["median_error_m"] == pytest.approx(1000.0, rel=1e-9)
    # a top-1 tied between documents 0 m and 2 km away: the expected score, not the score of the mean error
    err, within, gs = top_tie_geo(60.0, 25.0, plat[[0, 2]], lon[[0, 2]])
    assert err == pytest.approx(1000.0, rel=1e-9) and gs == pytest.approx(2500 * (1 + math.exp(-2)), rel=1e-9)


def test_probe_metrics():
    assert pairwise_choice_accuracy([1, 2, 3], [0, 3, 3], [True, True, False]) == pytest.approx((1 + 0 + 0.5) / 3)
    s = regression_scores([1, 2, 3, 4], [1, 2, 3, 4])
    assert s["r2"] == 1.0 and s["spearman"] == pytest.approx(1.0)
    assert regression_scores([1, 2, 3], [5, 5, 5])["spearman"] == 0.0
