"""A grid of retrieval examples: per query, its text, the model's top-k documents with rank and score, and the truth.

The ranking is the evaluation's own: items are encoded through ugbench's harness Encoder (EncodeItems with
the same ids, images, withheld coordinates and per-side instructions as `ugbench evaluate`), scored by cosine
similarity, and ordered by descending score. Without ties a query drawn as a hit here is a hit in that model's
results file. Ties need some drawn order: the figure orders tied documents by a seeded hash of their ids
(ugbench.metrics.ranking.tiebreak_keys, display only), while the metrics score ties as the expected value
over all their orderings (ugcore.ranking), so a row flagged all-tied is a fractional hit there, not this one.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ugcore.errors import DataError, UserError

from .render import HIT, MISS, check_png_path, new_figure, rc_context, save_png

TEXT_WRAP = 46  # characters per line in the query column
TEXT_LINES = 10  # lines shown before an ellipsis
DOC_TEXT_WRAP = 21
DOC_TEXT_LINES = 11
TEXT_COL_IN, CELL_IN, GAP_IN, ROW_IN = 3.4, 1.55, 0.35, 1.95  # inches


@dataclass
class GridRow:
    """One query of the grid: what was drawn and why (for tests and for callers who want the numbers)."""

    query_id: str
    text: str | None
    query_image_id: str | None
    top_ids: list[str]
    top_scores: list[float]
    positive_ids: list[str]
    truth_id: str
    truth_rank: int  # 1-based rank of the best-ranked positive among the ranked documents
    truth_score: float
    all_tied: bool = False  # every ranked document scored the same: the order is the tie rule's, not the model's

    @property
    def hits(self) -> list[bool]:
        """Per shown document: is it a positive (green frame) or not (red frame)?"""
        pos = set(self.positive_ids)
        return [d in pos for d in self.top_ids]

    @property
    def hit_at_1(self) -> bool:
        return self.truth_rank == 1


@dataclass
class RetrievalGrid:
    out: Path
    task: str
    model: str
    split: str
    k: int
    protocol: str = "local"
    corpus: Any = None  # the ranked documents (DataFrame), for drawing them
    rows: list[GridRow] = field(default_factory=list)
    n_documents_ranked: list[int] = field(default_factory=list)


def _load_model(model_name_or_obj: Any):
    if isinstance(model_name_or_obj, str):
        from ugbench.models.registry import load_model

        return load_model(model_name_or_obj)
    if not (hasattr(model_name_or_obj, "encode") and hasattr(model_name_or_obj, "meta")):
        raise UserError(f"{model_name_or_obj!r} is not a model: pass a registered name, a path, or an object with "
                        "`meta` and `encode` (ugcore.protocol.EncoderProtocol)")
    return model_name_or_obj


def _pick_queries(queries, split: str, n_queries: int, seed: int, where: str):
    have = sorted(queries["split"].astype(str).unique())
    sel = queries[queries["split"].astype(str) == split]
    if sel.empty:
        raise UserError(f"{where} has no queries in split '{split}' (it has {have}); pass --split")
    n = min(int(n_queries), len(sel))
    if n < 1:
        raise UserError("n_queries must be at least 1")
    rows = np.sort(np.random.default_rng(seed).choice(len(sel), size=n, replace=False))
    return sel.iloc[rows].reset_index(drop=True)


def rank_examples(data_dir: str | Path, model_name_or_obj: Any, *, task: str = "retrieval_caption2image",
                  n_queries: int = 4, k: int = 5, split: str = "test", seed: int = 0,
                  batch_size: int = 32) -> tuple[RetrievalGrid, Any]:
    """Encode and rank `n_queries` seeded queries of a ranking task; return the rows and the UGData handle."""
    import ugdata
    from ugbench.encoding import Encoder, as_list, normalize_rows
    from ugbench.metrics.ranking import rank_order, tiebreak_keys

    # The runner's own item tables, so the figure encodes exactly what evaluation encodes (ids, texts,
    # image ids, graph context, coordinates only on located documents).
    from ugbench.runners.context import RunContext
    from ugbench.runners.ranking import _corpus_table, _query_table
    from ugbench.tasks.registry import get_task

    if k < 1:
        raise UserError("k must be at least 1")
    meta = get_task(task)
    if meta.protocol == "probe":
        raise UserError(f"task '{meta.name}' is a perception probe, not a ranking task; pick a retrieval, "
                        "geolocation or grounding task (see `ugbench list-tasks`)")
    ud = ugdata.load(data_dir)  # NotUGDataError is a UserError
    if meta.data_task not in ud.task_names():
        raise UserError(f"{data_dir} has no task folder tasks/{meta.data_task}/ (it has {ud.task_names()}); "
                        "rebuild it with `ugdata build` or pick another --task")
    spec = ud.task_spec(meta.data_task)
    where = f"{ud.root}/tasks/{meta.data_task}/queries.parquet"
    queries = _pick_queries(meta.select_queries(ud.task_table(meta.data_task, "queries")), split, n_queries, seed,
                            where)
    corpus = ud.task_table(meta.data_task, "corpus").reset_index(drop=True)
    doc_ids_all = corpus["doc_id"].astype(str).tolist()
    cands = [as_list(c) for c in queries["candidate_ids"]]
    poss = [as_list(p) for p in queries["positive_ids"]]
    known = set(doc_ids_all)
    for qid, c, p in zip(queries["query_id"].astype(str), cands, poss, strict=True):
        bad = [d for d in p + c if d not in known]
        if bad or not p:
            raise DataError(f"{where}: query '{qid}' " + (f"references doc_id '{bad[0]}' not in corpus.parquet"
                                                          if bad else "has no positive_ids"))
        if meta.protocol == "local" and not c:
            raise DataError(f"{where}: query '{qid}' has no candidate_ids; use the task's _global variant")
    if meta.protocol == "local":  # only the documents these queries rank (as the runner does)
        wanted = {d for c in cands for d in c}
        corpus = corpus[corpus["doc_id"].astype(str).isin(wanted)].reset_index(drop=True)
    doc_ids = corpus["doc_id"].astype(str).tolist()
    doc_index = {d: i for i, d in enumerate(doc_ids)}

    model = _load_model(model_name_or_obj)
    enc = Encoder(model, ud, cache=None, batch_size=batch_size, show_progress=False)
    ctx = RunContext(ud, enc)  # the runner's own instruction lookup (a query mode may have its own)
    inst = {side: ctx.instruction(meta, spec, side) for side in ("query", "document")}
    de = enc.encode(_corpus_table(corpus), task=meta.name, side="document", instruction=inst["document"],
                    with_graph=meta.with_graph)
    qe = enc.encode(_query_table(queries), task=meta.name, side="query", instruction=inst["query"],
                    with_graph=meta.with_graph)
    if qe.shape[1] != de.shape[1]:
        raise DataError(f"model '{model.meta.name}' on task '{meta.name}': query embeddings have dimension "
                        f"{qe.shape[1]} but document embeddings {de.shape[1]}; they must share one space")
    qe, de = normalize_rows(qe), normalize_rows(de)
    keys = tiebreak_keys(doc_ids, seed)
    grid = RetrievalGrid(out=Path(), task=meta.name, model=str(model.meta.name), split=split, k=int(k),
                         protocol=meta.protocol, corpus=corpus)
    for i, q in queries.iterrows():
        ci = (np.array([doc_index[d] for d in cands[i]], dtype=np.int64) if meta.protocol == "local"
              else np.arange(len(doc_ids), dtype=np.int64))
        scores = de[ci] @ qe[i]
        order = ci[rank_order(scores, keys[ci])]
        ranked_scores = de[order] @ qe[i]
        ranked = [doc_ids[j] for j in order]
        pos = set(poss[i])
        best = next(r for r, d in enumerate(ranked) if d in pos)
        grid.rows.append(GridRow(
            query_id=str(q["query_id"]), text=q["text"] if isinstance(q["text"], str) else None,
            query_image_id=q["image_id"] if isinstance(q["image_id"], str) else None,
            top_ids=ranked[:k], top_scores=[float(s) for s in ranked_scores[:k]], positive_ids=poss[i],
            truth_id=ranked[best], truth_rank=best + 1, truth_score=float(ranked_scores[best]),
            all_tied=bool(np.ptp(ranked_scores) == 0.0),
        ))
        grid.n_documents_ranked.append(len(ci))
    return grid, ud


def grid_figsize(n_rows: int, n_shown: int) -> tuple[float, float]:
    """Figure size in inches: a text column, `n_shown` result cells, a gap and the truth cell; one row per query."""
    return TEXT_COL_IN + CELL_IN * (n_shown + 1) + GAP_IN, 0.75 + ROW_IN * n_rows


def _frame(ax, colour: str, width: float = 4.0) -> None:
    for s in ax.spines.values():
        s.set_visible(True)
        s.set_edgecolor(colour)
        s.set_linewidth(width)
    ax.set_xticks([])
    ax.set_yticks([])


def _wrap(text: str, width: int, lines: int) -> str:
    out = textwrap.wrap(text, width=width) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: max(0, width - 1)] + "…"
    return "\n".join(out)


def _draw_doc(ax, ud, doc: dict, colour: str, title: str) -> None:
    image_id = doc.get("image_id")
    if isinstance(image_id, str) and image_id:
        ax.imshow(np.asarray(ud.image(image_id)), interpolation="bilinear")
    else:  # a text document (grounding/geolocation corpora): show its text
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.text(0.05, 0.95, _wrap(str(doc.get("text") or doc.get("doc_id")), DOC_TEXT_WRAP, DOC_TEXT_LINES),
                va="top", ha="left", fontsize=7, transform=ax.transAxes)
    _frame(ax, colour)
    ax.set_title(title, fontsize=8, fontweight="normal", pad=3)


def retrieval_grid(data_dir: str | Path, model_name_or_obj: Any, task: str = "retrieval_caption2image",
                   n_queries: int = 4, k: int = 5, out: str | Path = "retrieval_grid.png", split: str = "test",
                   seed: int = 0, *, batch_size: int = 32) -> RetrievalGrid:
    """Draw `n_queries` seeded `split` queries of `task`: text | top-k with rank and score | the truth.

    Frames: green = a relevant document, red = not. The truth column shows the best-ranked relevant document
    with its rank among all ranked documents (its candidates, or the whole corpus for a _global task).
    Returns the rows drawn, so callers can check or report them.
    """
    out = check_png_path(out)
    grid, ud = rank_examples(data_dir, model_name_or_obj, task=task, n_queries=n_queries, k=k, split=split,
                             seed=seed, batch_size=batch_size)
    docs = {str(r["doc_id"]): r for r in grid.corpus.to_dict("records")}
    n, kk = len(grid.rows), grid.k
    shown = max(min(kk, m) for m in grid.n_documents_ranked)
    width, height = grid_figsize(n, shown)
    with rc_context():
        fig = new_figure(width, height)
        gs = fig.add_gridspec(n, shown + 3, width_ratios=[TEXT_COL_IN] + [CELL_IN] * shown + [GAP_IN, CELL_IN],
                              left=0.01, right=0.99, top=1 - 0.62 / height, bottom=0.12 / height,
                              wspace=0.08, hspace=0.42)
        hit1 = sum(r.hit_at_1 for r in grid.rows)
        fig.suptitle(f"{grid.task} ({grid.split}) — model: {grid.model} — top-{shown} of each query's "
                     f"{'candidates' if grid.protocol == 'local' else 'corpus'}; "
                     f"hit@1 on these {n}: {hit1}/{n}   (green = relevant, red = not)",
                     x=0.01, ha="left", fontsize=9, fontweight="bold", y=1 - 0.12 / height, va="top")
        for i, row in enumerate(grid.rows):
            ax = fig.add_subplot(gs[i, 0])
            ax.set_axis_off()
            mark = "hit@1" if row.hit_at_1 else f"miss (truth at rank {row.truth_rank})"
            head = f"Query {i + 1}: {mark}"
            ax.text(0.0, 1.0, head, transform=ax.transAxes, va="top", ha="left", fontsize=8.5, fontweight="bold",
                    color=HIT if row.hit_at_1 else MISS)
            top, x0, wrap = 0.86, 0.0, TEXT_WRAP
            if row.all_tied:
                ax.text(0.0, top, "all scores tie: the order is the seeded tie rule", transform=ax.transAxes,
                        va="top", ha="left", fontsize=7.5, style="italic", color="#555555")
                top -= 0.1
            if row.query_image_id:  # an image query (image -> image, geolocation): show it, text beside it
                inset = ax.inset_axes((0.0, 0.0, 0.42, top - 0.04))
                inset.imshow(np.asarray(ud.image(row.query_image_id)), interpolation="bilinear")
                _frame(inset, "#444444", 1.0)
                x0, wrap = 0.46, TEXT_WRAP // 2
            body = row.text or (f"image {row.query_image_id}" if row.query_image_id else row.query_id)
            ax.text(x0, top, _wrap(body, wrap, round(TEXT_LINES * top / 0.86)), transform=ax.transAxes, va="top",
                    ha="left", fontsize=7.5, linespacing=1.15)
            for j in range(shown):
                ax = fig.add_subplot(gs[i, 1 + j])
                d = row.top_ids[j]
                ok = row.hits[j]
                _draw_doc(ax, ud, docs[d], HIT if ok else MISS, f"#{j + 1}  score {row.top_scores[j]:.3f}")
            ax = fig.add_subplot(gs[i, shown + 2])
            _draw_doc(ax, ud, docs[row.truth_id], HIT, f"truth: rank {row.truth_rank}")
        save_png(fig, out)
    grid.out = out
    return grid
