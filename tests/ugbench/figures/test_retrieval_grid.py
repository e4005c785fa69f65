"""The retrieval grid: drawn from a real UGData build with real registered models, and its hit/miss
decisions checked against a ranking computed here, independently, from the model's own embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from fig_helpers import check_png, colour_pixels

from ugbench.figures import retrieval_grid
from ugbench.figures.render import HIT, MISS
from ugbench.figures.retrieval_grid import grid_figsize
from ugbench.metrics.ranking import tiebreak_keys
from ugbench.models.registry import load_model
from ugcore.errors import UserError
from ugcore.protocol import EncodeItem


def _independent_rows(ug_dir, model, task: str, query_ids: list[str]):
    """Rank each query's candidates from scratch: EncodeItems built here, cosine scores, descending order."""
    import ugdata

    ud = ugdata.load(ug_dir)
    spec = ud.task_spec(task)
    q = ud.task_table(task, "queries").set_index("query_id").loc[query_ids]
    corpus = ud.task_table(task, "corpus").set_index("doc_id")
    rows = []
    for qid, r in q.iterrows():
        img = ud.image(r["image_id"]) if isinstance(r["image_id"], str) else None
        qv = model.encode([EncodeItem(text=r["text"] if isinstance(r["text"], str) else None, image=img, id=qid)],
                          task_name=task, side="query", instruction=spec.instructions.get("query"))[0]
        cands = [str(c) for c in r["candidate_ids"]]
        items = []
        for d in cands:
            c = corpus.loc[d]
            items.append(EncodeItem(text=c["text"] if isinstance(c["text"], str) else None,
                                    image=ud.image(c["image_id"]) if isinstance(c["image_id"], str) else None, id=d))
        dv = model.encode(items, task_name=task, side="document", instruction=spec.instructions.get("document"))
        sims = (dv / np.linalg.norm(dv, axis=1, keepdims=True)) @ (qv / np.linalg.norm(qv))
        order = np.argsort(-sims, kind="stable")
        assert len(set(np.round(sims, 6))) == len(sims), "random embeddings should not tie"
        ranked = [cands[i] for i in order]
        pos = {str(p) for p in r["positive_ids"]}
        rows.append((ranked, sorted(sims, reverse=True), pos))
    return rows


def test_grid_png_size_and_content(grid):
    rgb = check_png(grid.out, grid_figsize(4, 5))
    assert len(grid.rows) == 4 and all(len(r.top_ids) == 5 for r in grid.rows)
    # Every row has a green truth frame; red frames exist wherever a shown document is not relevant.
    n_miss = sum(not h for r in grid.rows for h in r.hits)
    assert colour_pixels(rgb, HIT) > 4 * 400  # >= one 4-px frame of a ~1.5-inch cell per row
    assert (colour_pixels(rgb, MISS) > 0) == (n_miss > 0)


@pytest.mark.parametrize("task", ["retrieval_caption2image", "grounding_nearest_poi"])
def test_hits_match_an_independent_ranking(ug_dir, grid, task, tmp_path):
    model = load_model("random")
    g = grid if task == "retrieval_caption2image" else retrieval_grid(
        ug_dir, model, task=task, n_queries=3, k=3, out=tmp_path / "g.png", seed=1)
    expected = _independent_rows(ug_dir, model, task, [r.query_id for r in g.rows])
    for row, (ranked, sims, pos) in zip(g.rows, expected, strict=True):
        assert row.top_ids == ranked[: g.k]
        np.testing.assert_allclose(row.top_scores, sims[: g.k], atol=1e-5)
        assert row.hits == [d in pos for d in ranked[: g.k]]
        best = min(i for i, d in enumerate(ranked) if d in pos)
        assert row.truth_rank == best + 1 and row.truth_id == ranked[best]
        assert row.hit_at_1 == (ranked[0] in pos)
    if task != "retrieval_caption2image":
        check_png(tmp_path / "g.png", grid_figsize(3, 3))


def test_text_only_model_ties_follow_the_tie_rule(ug_dir, tmp_path):
    """BM25 sees no text in image documents: every score ties, and the order is ugbench's seeded tie rule."""
    g = retrieval_grid(ug_dir, "bm25", n_queries=2, k=4, out=tmp_path / "bm25.png", seed=0)
    check_png(g.out, grid_figsize(2, 4))
    import ugdata

    q = ugdata.load(ug_dir).task_table("retrieval_caption2image", "queries").set_index("query_id")
    for row in g.rows:
        assert row.all_tied
        cands = [str(c) for c in q.loc[row.query_id, "candidate_ids"]]
        by_key = [cands[i] for i in np.argsort(tiebreak_keys(cands, 0), kind="stable")]
        assert row.top_ids == by_key[:4]


def test_bad_inputs_are_one_line_user_errors(ug_dir, tmp_path):
    with pytest.raises(UserError, match="Did you mean"):
        retrieval_grid(ug_dir, "randomm", out=tmp_path / "x.png")
    with pytest.raises(UserError, match="unknown task"):
        retrieval_grid(ug_dir, "random", task="retrieval_captions", out=tmp_path / "x.png")
    with pytest.raises(UserError, match="no queries in split 'train'"):
        retrieval_grid(ug_dir, "random", split="train", out=tmp_path / "x.png")
    with pytest.raises(UserError, match=r"\.png"):
        retrieval_grid(ug_dir, "random", out=tmp_path / "x.jpg")
    with pytest.raises(UserError):
        retrieval_grid(tmp_path / "nowhere", "random", out=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
