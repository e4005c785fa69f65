"""Ranking tasks (geolocation, retrieval, grounding, streetsem): queries rank documents by cosine similarity.

Local protocol: each query ranks its own `candidate_ids`. Global protocol: each query ranks the whole corpus
by exact inner product on L2-normalised embeddings, scored in query blocks against the corpus
(ugcore.ranking.score_blocks: memory bounded by BLOCK_ELEMENTS, never a queries x corpus matrix); a relevant
document ranked deeper than GLOBAL_DEPTH counts as not retrieved for MRR (it adds 0), as a search engine's
top-GLOBAL_DEPTH list would have it; every k and nDCG@10 lie within that depth. Ties follow ugcore.ranking's
rule in both protocols: each metric (and each geo metric of the top-1 choice) is its expected value over all
orderings of the tied documents, so constant embeddings score exactly chance and the order of a candidate
list never matters.
Per-qtype breakdowns are reported under `by_qtype` when queries have more than one qtype.
A task scores only the queries of its query mode (TaskMeta.select_queries: image, text or fusion queries
of one data folder). Each split also reports `chance` (the main score's analytic chance on its queries,
ugbench.chance), `n_candidates_min` and `n_short_queries` (queries ranking fewer than ugbench.chance's
MIN_CANDIDATES documents, where chance exceeds 5%), so a too-easy task cannot pass unnoticed.
Every metric carries a 95% seeded bootstrap interval over queries under `ci95` (ugbench.stats), and each
query's values go to ctx.per_query (written beside the results as <task>.perquery.parquet for `ugbench compare`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ugcore.errors import DataError
from ugcore.ranking import score_blocks, tie_counts

from ..chance import MIN_CANDIDATES, chance_per_query, n_ranked
from ..encoding import ItemTable, as_list, graphs_of, normalize_rows, opt_float, opt_str
from ..metrics.geo import GEO_THRESHOLDS_M, GEOSCORE_NAME, geo_metrics_expected, top_tie_geo
from ..metrics.ranking import DEFAULT_KS, count_metrics, positive_counts
from ..stats import bootstrap_ci

GLOBAL_DEPTH = 100  # raised to the task's largest k when a task asks for deeper cut-offs
QUERY_REQUIRED = ("query_id", "split", "text", "image_id", "candidate_ids", "positive_ids")
CORPUS_REQUIRED = ("doc_id", "text", "image_id")
# Documents of these kinds ARE locations, so a model may see their coordinates (EncodeItem.lat/lon).
LOCATED_KINDS = {"location", "node", "place", "poi", "street", "intersection", "area", "view"}


def _require(df: pd.DataFrame, cols, where: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{where} lacks column(s) {missing}; it has {list(df.columns)} (see ugdata/format.py)")


def _has_graph(df: pd.DataFrame) -> bool:
    return "graph_context" in df and any(len(as_list(g)) for g in df["graph_context"])


def _corpus_table(corpus: pd.DataFrame) -> ItemTable:
    kinds = corpus["kind"].astype(str).tolist() if "kind" in corpus else [""] * len(corpus)
    lats = corpus["lat"].tolist() if "lat" in corpus else [None] * len(corpus)
    lons = corpus["lon"].tolist() if "lon" in corpus else [None] * len(corpus)
    located = [k in LOCATED_KINDS for k in kinds]
    return ItemTable(
        ids=corpus["doc_id"].astype(str).tolist(),
        texts=[opt_str(t) for t in corpus["text"]],
        image_ids=[opt_str(t) for t in corpus["image_id"]],
        graphs=graphs_of(corpus["graph_context"]) if "graph_context" in corpus else [],
        lats=[opt_float(v) if ok else None for v, ok in zip(lats, located, strict=True)],
        lons=[opt_float(v) if ok else None for v, ok in zip(lons, located, strict=True)],
    )


def _query_table(q: pd.DataFrame) -> ItemTable:
    # Never lat/lon on queries: a query's location is (part of) what geolocation asks for.
    return ItemTable(
        ids=q["query_id"].astype(str).tolist(),
        texts=[opt_str(t) for t in q["text"]],
        image_ids=[opt_str(t) for t in q["image_id"]],
        graphs=graphs_of(q["graph_context"]) if "graph_context" in q else [],
    )


class _TopGeo:
    """Per query, the expected geo error of the top-1 choice (mean over documents tied at the top)."""

    def __init__(self, n: int, q_latlon, d_latlon):
        self.q, self.d = q_latlon, d_latlon
        self.error = np.zeros(n)
        self.within = np.zeros((n, len(GEO_THRESHOLDS_M)))
        self.geoscore = np.zeros(n)

    def add(self, i: int, top_docs: np.ndarray) -> None:
        self.error[i], self.within[i], self.geoscore[i] = top_tie_geo(self.q[0][i], self.q[1][i],
                                                                      self.d[0][top_docs], self.d[1][top_docs])


def _global_counts(qe: np.ndarray, de: np.ndarray, pos_idx: list[np.ndarray], geo: _TopGeo | None,
                   q_rows: np.ndarray, d_rows: np.ndarray, run: dict | None = None,
                   depth: int = GLOBAL_DEPTH) -> list[tuple[np.ndarray, ...]]:
    """Tie counts (n_better, n_tied, positives in the group) of each query's positives against all of `de`.

    q_rows / d_rows map local query / document positions to the task's (for `geo`)."""
    out: list[tuple[np.ndarray, ...]] = [()] * len(qe)
    n_pos = np.array([len(p) for p in pos_idx], dtype=np.int64)
    for s, S in score_blocks(qe, de):
        rows = np.arange(s, s + len(S))
        b = np.zeros((len(S), int(n_pos[rows].max())), dtype=np.int64)
        m, v = np.ones_like(b), np.full(b.shape, np.nan, dtype=np.float32)
        for j in range(b.shape[1]):  # positive slot j of every query that has one: vectorised over the block
            has = np.flatnonzero(n_pos[rows] > j)
            v[has, j] = S[has, [int(pos_idx[r][j]) for r in rows[has]]]
            b[has, j], m[has, j] = tie_counts(S[has], v[has, j])
        for r in range(len(S)):
            k = int(n_pos[s + r])
            vr = v[r, :k]
            out[s + r] = (b[r, :k], m[r, :k], np.count_nonzero(vr[:, None] == vr[None, :], axis=1))
        if run is not None:  # each query's top-`depth` documents with their scores (a search engine's run)
            k = min(depth, S.shape[1])
            part = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else np.tile(np.arange(k), (len(S), 1))
            for r in range(len(S)):
                run[int(q_rows[s + r])] = (d_rows[part[r]], S[r, part[r]])
        if geo is not None:
            top = S.max(axis=1)
            for r in range(len(S)):
                geo.add(int(q_rows[s + r]), d_rows[np.flatnonzero(S[r] == top[r])])
    return out


def run_ranking_task(meta, ctx) -> dict[str, dict]:
    ud = ctx.ud
    spec = ctx.spec(meta)
    qpath = f"{ud.root}/tasks/{meta.data_task}/queries.parquet"
    t0 = time.perf_counter()
    queries = ud.task_table(meta.data_task, "queries")
    corpus = ud.task_table(meta.data_task, "corpus")
    _require(queries, QUERY_REQUIRED, qpath)
    _require(corpus, CORPUS_REQUIRED, f"{ud.root}/tasks/{meta.data_task}/corpus.parquet")
    queries = meta.select_queries(queries).reset_index(drop=True)
    if queries.empty:
        raise DataError(f"{qpath} has no {meta.query_mode} queries for task '{meta.name}' (data built before "
                        "ugbench's query modes: rebuild it with `ugdata build`)")
    splits = ctx.pick_splits(meta, spec, sorted(queries["split"].astype(str).unique()), qpath)
    queries = queries[queries["split"].astype(str).isin(splits)].reset_index(drop=True)
    if corpus["doc_id"].duplicated().any():
        dup = corpus.loc[corpus["doc_id"].duplicated(), "doc_id"].iloc[0]
        raise DataError(f"{ud.root}/tasks/{meta.data_task}/corpus.parquet: doc_id '{dup}' occurs twice")
    doc_index = {d: i for i, d in enumerate(corpus["doc_id"].astype(str))}
    cands = [as_list(c) for c in queries["candidate_ids"]]
    poss = [as_list(p) for p in queries["positive_ids"]]
    qids = queries["query_id"].astype(str).tolist()
    for qid, c, p in zip(qids, cands, poss, strict=True):
        if not p:
            raise DataError(f"{qpath}: query '{qid}' has no positive_ids")
        unknown = [d for d in p + c if d not in doc_index]
        if unknown:
            raise DataError(f"{qpath}: query '{qid}' references doc_id '{unknown[0]}' not in corpus.parquet")
        if meta.protocol == "local":
            if not c:
                raise DataError(f"{qpath}: query '{qid}' has no candidate_ids, so task '{meta.name}' (local "
                                "protocol) cannot rank it; use the _global variant")
            if not set(p) <= set(c):
                raise DataError(f"{qpath}: query '{qid}' has a positive that is not among its candidate_ids")
    if meta.with_graph and not (_has_graph(queries) or _has_graph(corpus)):
        raise DataError(f"{qpath}: no query or document has graph_context, so the with-graph task '{meta.name}' "
                        "cannot run; rebuild with graph context or use the task without _graph")
    # chance levels from the candidate counts (the full corpus, before the local protocol trims it)
    n_cands = n_ranked(meta, queries, corpus, spec)
    chance = chance_per_query(meta, queries, corpus, spec=spec)
    if meta.protocol == "local":  # encode only the documents some selected query can rank
        used = sorted({doc_index[d] for c in cands for d in c})
        corpus = corpus.iloc[used].reset_index(drop=True)
        doc_index = {d: i for i, d in enumerate(corpus["doc_id"].astype(str))}
    ctx.timings["load"] = ctx.timings.get("load", 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    enc = ctx.encoder
    q_inst = ctx.instruction(meta, spec, "query")
    d_inst = ctx.instruction(meta, spec, "document")
    de = enc.encode(_corpus_table(corpus), task=meta.name, side="document", instruction=d_inst,
                    with_graph=meta.with_graph, cache_task=meta.data_task)
    qe = enc.encode(_query_table(queries), task=meta.name, side="query", instruction=q_inst,
                    with_graph=meta.with_graph, cache_task=meta.data_task)
    if qe.shape[1] != de.shape[1]:
        raise DataError(f"model '{enc.model.meta.name}' on task '{meta.name}': query embeddings have dimension "
                        f"{qe.shape[1]} but document embeddings {de.shape[1]}; they must share one space")
    ctx.timings["encode"] = ctx.timings.get("encode", 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    # in place: the encoder hands over fresh arrays, and a second corpus-sized copy is what broke 4 GB at 10^6 docs
    qe, de = normalize_rows(qe, inplace=True), normalize_rows(de, inplace=True)
    pos_idx = [np.array([doc_index[d] for d in p], dtype=np.int64) for p in poss]
    split_col = queries["split"].astype(str).to_numpy()
    use_geo = meta.geo_metrics and {"lat", "lon"} <= set(queries.columns) and {"lat", "lon"} <= set(corpus.columns)
    if meta.geo_metrics and not use_geo:
        raise DataError(f"task '{meta.name}' needs lat/lon in queries.parquet and corpus.parquet for geo metrics")
    geo = (_TopGeo(len(qids), (queries["lat"].to_numpy(np.float64), queries["lon"].to_numpy(np.float64)),
                   (corpus["lat"].to_numpy(np.float64), corpus["lon"].to_numpy(np.float64))) if use_geo else None)
    # A task may declare that each split ranks only its own documents (task.json extra.corpus_split_column):
    # e.g. StreetSem, where a test query must not be scored against validation views.
    doc_split_col = spec.extra.get("corpus_split_column") if meta.protocol == "global" else None
    doc_split = corpus[doc_split_col].astype(str).to_numpy() if doc_split_col in corpus else None
    n_docs = {s: int((doc_split == s).sum()) if doc_split is not None else len(corpus) for s in splits}
    depth = None
    run: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if ctx.save_predictions else None
    if meta.protocol == "global":
        depth = max([GLOBAL_DEPTH, *[int(k) for k in meta.options.get("ks", [])]])
        if doc_split is None:
            counts = _global_counts(qe, de, pos_idx, geo, np.arange(len(qids)), np.arange(len(corpus)), run, depth)
        else:
            counts = [()] * len(qids)
            for split in splits:
                qi, di = np.flatnonzero(split_col == split), np.flatnonzero(doc_split == split)
                local = {int(d): j for j, d in enumerate(di)}
                for i in qi:
                    if any(int(p) not in local for p in pos_idx[i]):
                        raise DataError(f"{qpath}: query '{qids[i]}' (split {split}) has a positive outside "
                                        f"the {split} documents, but the task ranks each split's own corpus")
                pos_local = [np.array([local[int(p)] for p in pos_idx[i]], dtype=np.int64) for i in qi]
                for j, c in enumerate(_global_counts(qe[qi], de[di], pos_local, geo, qi, di, run, depth)):
                    counts[qi[j]] = c
    else:
        counts = []
        for i, c in enumerate(cands):
            ci = np.array([doc_index[d] for d in c], dtype=np.int64)
            scores = de[ci] @ qe[i]
            counts.append(positive_counts(scores, np.isin(ci, pos_idx[i])))
            if run is not None:
                run[i] = (ci, scores)
            if geo is not None:
                geo.add(i, ci[scores == scores.max()])
    ks = tuple(sorted(set(DEFAULT_KS) | {int(k) for k in meta.options.get("ks", [])}))
    pq = pd.DataFrame([count_metrics(*c, len(p), ks, depth) for c, p in zip(counts, pos_idx, strict=True)])
    qtypes = queries["qtype"].astype(str).to_numpy() if "qtype" in queries else np.array([""] * len(queries))
    if run is not None:
        doc_ids = corpus["doc_id"].astype(str).to_numpy()
        ctx.predictions = {
            "kind": "ranking",
            "run": {i: (split_col[i], qids[i], doc_ids[d], sc.astype(np.float64)) for i, (d, sc) in run.items()},
            "qrels": [(split_col[i], qids[i], p) for i in range(len(qids)) for p in poss[i]],
        }
    values = _per_query(pq, geo)
    ctx.per_query.append(pd.DataFrame({"split": split_col, "query_id": qids, **values}))
    out: dict[str, dict] = {}
    for split in splits:
        m = split_col == split
        scores = _aggregate(pq[m], geo, m)
        scores["ci95"] = _intervals(values, m, ctx.seed, (meta.data_task, split))
        types = sorted(set(qtypes[m]))
        if len(types) > 1:
            scores["by_qtype"] = {}
            for t in types:
                mt = m & (qtypes == t)
                scores["by_qtype"][t] = {**_aggregate(pq[mt], geo, mt),
                                         "ci95": _intervals(values, mt, ctx.seed, (meta.data_task, split, t)),
                                         "n_queries": int(mt.sum())}
        if meta.main_score not in scores:
            raise ValueError(f"task '{meta.name}' main_score '{meta.main_score}' is not a computed metric")
        scores["main_score"] = scores[meta.main_score]
        scores["chance"] = float(chance[m].mean())
        scores["n_candidates_min"] = int(n_cands[m].min())
        scores["n_short_queries"] = int(np.count_nonzero(n_cands[m] < MIN_CANDIDATES))
        scores["n_queries"] = int(m.sum())
        scores["n_documents"] = n_docs[split]
        out[split] = scores
    ctx.timings["score"] = ctx.timings.get("score", 0.0) + time.perf_counter() - t0
    return out


def _per_query(pq: pd.DataFrame, geo: _TopGeo | None) -> dict[str, np.ndarray]:
    """Each query's value of each metric (the scores are their means; median_error_m their median)."""
    values = {c: pq[c].to_numpy(np.float64) for c in pq.columns}
    if geo is not None:
        values["median_error_m"] = values["mean_error_m"] = geo.error
        for j, t in enumerate(GEO_THRESHOLDS_M):
            values[f"acc@{t}m"] = geo.within[:, j]
        values[GEOSCORE_NAME] = geo.geoscore
    return values


def _intervals(values: dict[str, np.ndarray], rows: np.ndarray, seed: int, keys: tuple[str, ...]) -> dict:
    """95% seeded bootstrap intervals over the selected queries (ugbench.stats)."""
    return bootstrap_ci({k: v[rows] for k, v in values.items()}, seed=seed, keys=keys, medians=("median_error_m",))


def _aggregate(pq: pd.DataFrame, geo: _TopGeo | None, rows: np.ndarray) -> dict:
    scores: dict = {c: float(pq[c].mean()) for c in pq.columns}
    if geo is not None:
        scores.update(geo_metrics_expected(geo.error[rows], geo.within[rows], geo.geoscore[rows]))
    return scores
