"""The one tie rule (ugcore.ranking: expected value over all orderings of tied documents), end to end.

A model that embeds every item the same (all-zero or constant vectors) must score EXACTLY the analytic chance
on every ranking task, local and global protocol, and no score may depend on the order of a candidate list or
of the corpus. Before the rule was unified, all-zero embeddings scored MRR 1.0 in uge.quick_eval (ties went to
the positive), and the corpus order decided StreetSem's ties.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from ugbench.chance import chance_level
from ugbench.encoding import as_list
from ugbench.evaluation import evaluate
from ugbench.tasks import get_task
from ugcore.geo import haversine_m
from ugcore.protocol import ModelMeta
from ugdata.testing import reseal

RANKING = ["geoloc_rank", "retrieval_caption2image", "retrieval_path2image", "retrieval_image2image",
           "grounding_nearest_poi", "grounding_distance_direction", "retrieval_caption2image_global",
           "retrieval_image2image_global", "retrieval_path2image_global", "geoloc_rank_fusion", "geoloc_rank_text",
           "retrieval_caption2image_fusion"]


class ConstantModel:
    def __init__(self, value: float):
        self.value = value
        self.meta = ModelMeta(name=f"constant-{value}", revision="t", embed_dim=6, modalities=["text", "image"])

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        return np.full((len(items), 6), self.value, dtype=np.float32)


def _chance(n: int, p: int) -> dict[str, float]:
    """Chance for one query: n documents all tied, p of them relevant (math.comb, not the library's code)."""
    out = {}
    for k in (1, 3, 5, 10):
        out[f"hit@{k}"] = 1 - math.comb(n - min(k, n), p) / math.comb(n, p)
        out[f"recall@{k}"] = min(k, n) / n
    # global protocol: ranks deeper than 100 add 0 to MRR (GLOBAL_DEPTH)
    out["mrr"] = sum(math.comb(n - j, p - 1) / math.comb(n, p) / j for j in range(1, min(n - p + 1, 100) + 1))
    disc = [1 / math.log2(j + 1) for j in range(1, 11)]
    out["ndcg@10"] = p / n * sum(disc[: min(n, 10)]) / sum(disc[: min(p, 10)])
    return out


def _run(model, data, out, tasks):
    return evaluate(model, data, tasks=tasks, output=out, cache_dir=None, show_progress=False,
                    console=Console(quiet=True))


@pytest.mark.parametrize("value", [0.0, 0.3], ids=["zero", "constant"])
def test_constant_embeddings_score_exactly_chance(value, mock_data, tmp_path):
    results = _run(ConstantModel(value), mock_data, tmp_path / "out", RANKING)
    assert sorted(r["task"]["name"] for r in results) == sorted(RANKING)
    for r in results:
        name, meta = r["task"]["name"], get_task(r["task"]["name"])
        q = meta.select_queries(pd.read_parquet(mock_data / "tasks" / meta.data_task / "queries.parquet"))
        corpus = pd.read_parquet(mock_data / "tasks" / meta.data_task / "corpus.parquet")
        for split, sc in r["scores"].items():
            qs = q[q["split"].astype(str) == split]
            assert sc["n_queries"] == len(qs)  # the task scored exactly its query mode's rows
            rows = [_chance(len(corpus) if name.endswith("_global") else len(as_list(c)), len(as_list(p)))
                    for c, p in zip(qs["candidate_ids"], qs["positive_ids"], strict=True)]
            for metric in rows[0]:
                assert sc[metric] == pytest.approx(np.mean([x[metric] for x in rows]), abs=1e-12), (name, metric)
                # ugbench.chance computes the same chance from the data alone
                assert chance_level(meta, qs, corpus, metric=metric) == pytest.approx(sc[metric], abs=1e-12)
            assert sc["chance"] == pytest.approx(sc["main_score"], abs=1e-12)  # the results state it too
            if name == "geoloc_rank":  # every candidate is the top-1 with equal probability
                by_id = corpus.set_index(corpus["doc_id"].astype(str))
                dist = [haversine_m(row.lat, row.lon, by_id.loc[as_list(row.candidate_ids), "lat"].to_numpy(),
                                    by_id.loc[as_list(row.candidate_ids), "lon"].to_numpy()) for row in qs.itertuples()]
                err = [np.mean(d) for d in dist]
                assert sc["mean_error_m"] == pytest.approx(float(np.mean(err)), rel=1e-9)
                gs = [np.mean(5000 * np.exp(-d / 1000)) for d in dist]  # expected city-scale GeoScore per query
                assert sc["geoscore@1km"] == pytest.approx(float(np.mean(gs)), rel=1e-9)
                assert sc["median_error_m"] == pytest.approx(float(np.median(err)), rel=1e-9)


def test_scores_do_not_depend_on_candidate_or_corpus_order(mock_data, tmp_path):
    """bm25 gives image-only items zero vectors: a tie-heavy model. Shuffle every candidate list and the
    corpus rows: every score stays the same, bit for bit."""
    tasks = ["retrieval_image2image", "geoloc_rank", "retrieval_caption2image_global"]
    shuffled = tmp_path / "shuffled"
    shutil.copytree(mock_data, shuffled)
    rng = np.random.default_rng(0)
    for t in ("retrieval_image2image", "geoloc_rank", "retrieval_caption2image"):
        tdir = shuffled / "tasks" / t
        q = pd.read_parquet(tdir / "queries.parquet")
        q["candidate_ids"] = [list(rng.permutation(as_list(c))) for c in q["candidate_ids"]]
        q.to_parquet(tdir / "queries.parquet")
        c = pd.read_parquet(tdir / "corpus.parquet")
        c.iloc[rng.permutation(len(c))].reset_index(drop=True).to_parquet(tdir / "corpus.parquet")
    reseal(shuffled)
    a = {r["task"]["name"]: r["scores"] for r in _run("bm25", mock_data, tmp_path / "a", tasks)}
    b = {r["task"]["name"]: r["scores"] for r in _run("bm25", shuffled, tmp_path / "b", tasks)}
    assert a == b
