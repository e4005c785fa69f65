"""UGBench 2.0 tasks measure what they claim (issue 14): main scores whose chance is at most 5% with 20+
candidates, chance computed from the data (ugbench.chance), StreetSem documents without text, the paper's
query modes with no word overlap a keyword model could exploit, short candidate lists never passing silently.

Most checks run on a real UGData build asking for 25 candidates (conftest `small_ugdata_25`, seconds).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import ugdata
from ugbench.chance import MIN_CANDIDATES, candidate_facts, chance_level, task_chance, within_max_chance
from ugbench.encoding import as_list
from ugbench.evaluation import evaluate
from ugbench.tasks import get_task
from ugbench.tasks.registry import entries
from ugdata.format import TaskSpec

LOCAL_RANKING = [m.name for m in entries() if m.protocol == "local"]
IMAGE_MODE = ["geoloc_rank", "geoloc_rank_graph", "grounding_nearest_poi", "retrieval_image2image"]
MODES = {"geoloc_rank": {"image", "fusion", "text"}, "retrieval_caption2image": {"text", "fusion"}}
WORD = re.compile(r"\w+")


def _run(model, data, out, tasks):
    return evaluate(model, data, tasks=tasks, output=out, cache_dir=None, show_progress=False,
                    console=Console(quiet=True))


def _queries(data, task: str) -> pd.DataFrame:
    meta = get_task(task)
    return meta.select_queries(ugdata.load(data).task_table(meta.data_task, "queries"))


def test_local_ranking_main_scores_have_chance_at_most_5_percent_with_20_candidates():
    """Hit@1 over n candidates has chance 1/n (.05 at 20); MRR would not do (H(20)/20 = .18)."""
    assert LOCAL_RANKING
    for name in LOCAL_RANKING:
        meta = get_task(name)
        assert meta.main_score == "hit@1" and meta.version == "3", name
        q = pd.DataFrame({"candidate_ids": [[f"d{i}" for i in range(MIN_CANDIDATES)]], "positive_ids": [["d0"]],
                          "query_mode": [meta.query_mode], "split": ["test"]})
        c = chance_level(meta, q)
        assert c == pytest.approx(1 / MIN_CANDIDATES) and within_max_chance(c)
    mrr = get_task("geoloc_rank").model_copy(update={"main_score": "mrr"})
    c = chance_level(mrr, q.assign(query_mode="image"))
    assert c == pytest.approx(sum(1 / j for j in range(1, 21)) / 20) and not within_max_chance(c)


def test_chance_level_hand_cases():
    meta = get_task("geoloc_rank")  # hit@1, image mode
    q = pd.DataFrame({"candidate_ids": [[f"d{i}" for i in range(n)] for n in (20, 25, 25, 25)],
                      "positive_ids": [["d0"]] * 4, "split": ["test"] * 4,
                      "query_mode": ["image", "image", "text", None]})  # None: data written before modes
    assert chance_level(meta, q) == pytest.approx((1 / 20 + 1 / 25 + 1 / 25) / 3)  # the text row is not its
    assert chance_level(get_task("geoloc_rank_text"), q) == pytest.approx(1 / 25)
    assert chance_level(meta, q, metric="mrr") == pytest.approx(
        np.mean([sum(1 / j for j in range(1, n + 1)) / n for n in (20, 25, 25)]))
    assert chance_level(meta, q, metric="recall@5") == pytest.approx(np.mean([5 / 20, 5 / 25, 5 / 25]))
    facts = candidate_facts(meta, q.assign(candidate_ids=[["a"] * 10, ["a"] * 25, [], ["a"] * 25]))
    assert facts["n_short_queries"] == 1 and facts["n_candidates_min"] == 10 and facts["n_queries"] == 3
    # global protocol, StreetSem-style: each split ranks its own views (recall@10 = 10 / views of the split)
    ss, spec = get_task("streetsem_text2view"), TaskSpec(name="streetsem", extra={"corpus_split_column": "split"})
    corpus = pd.DataFrame({"doc_id": [f"v{i}" for i in range(250)], "split": ["test"] * 200 + ["val"] * 50})
    qs = pd.DataFrame({"candidate_ids": [[], []], "positive_ids": [["v0"], ["v200"]], "split": ["test", "val"],
                       "query_mode": ["text", "text"]})
    assert chance_level(ss, qs, corpus, spec=spec) == pytest.approx((10 / 200 + 10 / 50) / 2)
    with pytest.raises(ValueError, match="corpus"):
        chance_level(ss, qs)


def test_builds_give_every_query_its_candidates_and_say_so(small_ugdata_25):
    ud = ugdata.load(small_ugdata_25)
    assert not ud.manifest.get("omitted_tasks")
    for name in ("geoloc_rank", "retrieval_caption2image", "retrieval_path2image", "retrieval_image2image",
                 "grounding_nearest_poi", "grounding_distance_direction"):
        facts = ud.task_spec(name).extra["candidates"]
        assert facts["n_candidates"] == 25 and facts["min_candidates"] == MIN_CANDIDATES, name
        assert facts["short_queries"] == facts["dropped_short_queries"] == 0, name
        for task in [m.name for m in entries() if m.data_task == name and m.protocol == "local"]:
            q = _queries(small_ugdata_25, task)
            assert len(q) > 0 and (q.candidate_ids.map(len) == 25).all(), task
            for split, c in task_chance(task, small_ugdata_25).items():
                assert c == pytest.approx(1 / 25), (task, split)
    # the nearest POIs, nearest first, distinct texts; distance-direction answers all different
    q = ud.task_table("grounding_distance_direction", "queries")
    c = ud.task_table("grounding_distance_direction", "corpus").set_index("doc_id")
    assert all(c.loc[as_list(ids), "text"].nunique() == 25 for ids in q.candidate_ids)
    assert q.positive_ids.map(lambda p: p[0].rsplit("/", 1)[1]).nunique() > 1  # the answer's id tells nothing


def test_short_candidate_lists_refuse_the_task_with_the_reason(tmp_path):
    """The standard small build has 8 view points per evaluation split: asking it for 25 candidates, the
    point-based tasks cannot give any query 20 and are omitted with that reason; the POI- and answer-based
    grounding tasks still get their 25."""
    from ugdata.testing import small_build

    out = small_build(tmp_path / "short25", n_views=120, seed=0, n_candidates=25)
    ud = ugdata.load(out)
    omitted = ud.manifest["omitted_tasks"]
    assert "geoloc_rank" in omitted and f"fewer than {MIN_CANDIDATES} candidates" in omitted["geoloc_rank"]
    assert ud.task_spec("grounding_nearest_poi").extra["candidates"]["min"] == 25


@pytest.mark.parametrize("model", ["random", "bm25"])
def test_scores_sit_at_the_analytic_chance(model, small_ugdata_25, tmp_path):
    """random: within 4 standard errors of the analytic chance on every local ranking task (deterministic:
    its vectors are seeded by item id). bm25 on image-query tasks sees no text at all: EXACTLY chance."""
    tasks = LOCAL_RANKING if model == "random" else IMAGE_MODE
    results = _run(model, small_ugdata_25, tmp_path, tasks)
    assert sorted(r["task"]["name"] for r in results) == sorted(tasks)
    for r in results:
        for split, sc in r["scores"].items():
            c, n = sc["chance"], sc["n_queries"]
            assert c == pytest.approx(1 / 25) and sc["n_candidates_min"] == 25 and sc["n_short_queries"] == 0
            if model == "bm25":
                assert sc["main_score"] == pytest.approx(c, abs=1e-12), (r["task"]["name"], split)
            else:
                assert abs(sc["main_score"] - c) <= 4 * np.sqrt(c * (1 - c) / n) + 1e-12, (r["task"]["name"], split)


def test_streetsem_documents_are_views_without_text(small_ugdata_25, tmp_path):
    ud = ugdata.load(small_ugdata_25)
    corpus, spec = ud.task_table("streetsem", "corpus"), ud.task_spec("streetsem")
    assert corpus["text"].isna().all() and corpus["image_id"].notna().all()
    assert (corpus["kind"] == "view").all() and corpus[["lat", "lon"]].notna().all().all()
    assert "text" not in spec.doc_modalities
    # a keyword model has nothing to match: recall@10 is exactly its chance, 10 / views of the split
    (r,) = _run("bm25", small_ugdata_25, tmp_path, ["streetsem_text2view"])
    for split, sc in r["scores"].items():
        assert sc["main_score"] == pytest.approx(10 / (corpus["split"] == split).sum(), abs=1e-12)
        assert sc["chance"] == pytest.approx(sc["main_score"], abs=1e-12)


def test_query_mode_variants_and_no_word_overlap(small_ugdata_25):
    names = {m.name for m in entries()}
    assert {"geoloc_rank_fusion", "geoloc_rank_text", "geoloc_rank_fusion_graph", "geoloc_rank_text_graph",
            "retrieval_caption2image_fusion", "retrieval_caption2image_fusion_graph"} <= names
    assert get_task("geoloc_fusion").name == "geoloc_rank_fusion"  # aliases follow
    ud = ugdata.load(small_ugdata_25)
    for data_task, modes in MODES.items():
        q = ud.task_table(data_task, "queries")
        assert set(q.query_mode) == modes
        for mode in modes:
            rows = q[q.query_mode == mode]
            assert rows.text.notna().all() == (mode != "image") and rows.image_id.notna().all() == (mode != "text")
    # geolocation: a text query shares no word with any of its candidates' descriptions, and ranks the same
    # candidates as the image query of its view
    q = ud.task_table("geoloc_rank", "queries").set_index("query_id")
    docs = ud.task_table("geoloc_rank", "corpus").set_index("doc_id")["text"]
    for qid, r in q[q.query_mode == "text"].iterrows():
        cand_words = set().union(*(set(WORD.findall(docs[d].lower())) for d in r.candidate_ids))
        assert not set(WORD.findall(r.text.lower())) & cand_words, qid
        assert list(q.loc[qid.removesuffix("/text"), "candidate_ids"]) == list(r.candidate_ids)
    # caption -> image fusion: the shown view is of the same point as the positive and never a candidate
    q = ud.task_table("retrieval_caption2image", "queries")
    views = ud.task_table("retrieval_caption2image", "corpus").set_index("doc_id")
    for r in q[q.query_mode == "fusion"].itertuples():
        assert r.image_id not in set(r.candidate_ids)
        assert views.loc[r.image_id, ["lat", "lon"]].tolist() == views.loc[r.positive_ids[0], ["lat", "lon"]].tolist()
    spec = json.loads((small_ugdata_25 / "tasks" / "geoloc_rank" / "task.json").read_text())
    assert set(spec["extra"]["query_modes"]) == MODES["geoloc_rank"] and "query:text" in spec["instructions"]


def test_a_mode_variant_is_skipped_on_data_without_that_mode(mock_data, tmp_path):
    """`--tasks all` on data written before query modes skips the mode variants (nothing to score) and gives
    the declared task every unmarked query; asked for explicitly, a mode variant is a one-line error."""
    import shutil

    from ugbench.evaluation import _skippable
    from ugcore.errors import UserError
    from ugdata.testing import reseal

    old = tmp_path / "old"
    shutil.copytree(mock_data, old)
    qp = old / "tasks" / "geoloc_rank" / "queries.parquet"
    q = pd.read_parquet(qp)
    q[q.query_mode == "image"].drop(columns=["query_mode"]).to_parquet(qp)
    reseal(old)
    assert _skippable(get_task("geoloc_rank_fusion"), ugdata.load(old)) == "no fusion queries in the data"
    assert _skippable(get_task("geoloc_rank"), ugdata.load(old)) is None
    with pytest.raises(UserError, match="no fusion queries"):
        _run("random", old, tmp_path / "out", ["geoloc_rank_fusion"])
    (r,) = _run("random", old, tmp_path / "out", ["geoloc_rank"])
    assert sum(s["n_queries"] for s in r["scores"].values()) == (q.query_mode == "image").sum()
