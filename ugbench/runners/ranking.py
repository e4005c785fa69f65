"""Ranking tasks (geolocation, retrieval, grounding, streetsem): queries rank documents by cosine similarity.

Local protocol: each query ranks its own `candidate_ids`. Global protocol: each query ranks the whole corpus
with a faiss exact inner-product index (IndexFlatIP on L2-normalised embeddings); only the top
GLOBAL_DEPTH documents are retrieved, so a relevant document ranked deeper counts as not retrieved
(it adds 0 to MRR and nDCG). Ties follow ugbench.metrics.ranking's rule in both protocols (in the global
protocol the faiss top list is re-sorted by it, so a tie straddling the depth cut-off is the one exception).
Per-qtype breakdowns are reported under `by_qtype` when queries have more than one qtype.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ugcore.errors import DataError

from ..encoding import ItemTable, as_list, graphs_of, normalize_rows, opt_float, opt_str
from ..metrics.geo import geo_metrics
from ..metrics.ranking import DEFAULT_KS, positive_ranks, query_metrics, rank_order, tiebreak_keys

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


def _global_ranks(qe: np.ndarray, de: np.ndarray, keys: np.ndarray, pos_idx: list[np.ndarray], depth: int):
    import faiss

    depth = min(depth, de.shape[0])
    index = faiss.IndexFlatIP(de.shape[1])
    index.add(np.ascontiguousarray(de, dtype=np.float32))
    sims, idx = index.search(np.ascontiguousarray(qe, dtype=np.float32), depth)
    ranks, tops = [], np.empty(len(qe), dtype=np.int64)
    for i in range(len(qe)):
        order = rank_order(sims[i], keys[idx[i]])
        ranked = idx[i][order]
        tops[i] = ranked[0]
        where = {int(d): r + 1 for r, d in enumerate(ranked)}
        ranks.append(np.sort(np.array([where.get(int(p), np.inf) for p in pos_idx[i]], dtype=np.float64)))
    return ranks, tops


def run_ranking_task(meta, ctx) -> dict[str, dict]:
    ud = ctx.ud
    spec = ctx.spec(meta)
    qpath = f"{ud.root}/tasks/{meta.data_task}/queries.parquet"
    t0 = time.perf_counter()
    queries = ud.task_table(meta.data_task, "queries")
    corpus = ud.task_table(meta.data_task, "corpus")
    _require(queries, QUERY_REQUIRED, qpath)
    _require(corpus, CORPUS_REQUIRED, f"{ud.root}/tasks/{meta.data_task}/corpus.parquet")
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
    qe, de = normalize_rows(qe), normalize_rows(de)
    keys = tiebreak_keys(corpus["doc_id"].astype(str).tolist(), ctx.seed)
    pos_idx = [np.array([doc_index[d] for d in p], dtype=np.int64) for p in poss]
    split_col = queries["split"].astype(str).to_numpy()
    # A task may declare that each split ranks only its own documents (task.json extra.corpus_split_column):
    # e.g. StreetSem, where a test query must not be scored against validation views.
    doc_split_col = spec.extra.get("corpus_split_column") if meta.protocol == "global" else None
    doc_split = corpus[doc_split_col].astype(str).to_numpy() if doc_split_col in corpus else None
    n_docs = {s: int((doc_split == s).sum()) if doc_split is not None else len(corpus) for s in splits}
    if meta.protocol == "global":
        depth = max([GLOBAL_DEPTH, *[int(k) for k in meta.options.get("ks", [])]])
        if doc_split is None:
            ranks, tops = _global_ranks(qe, de, keys, pos_idx, depth)
        else:
            ranks, tops = [np.empty(0)] * len(qids), np.empty(len(qids), dtype=np.int64)
            for split in splits:
                qi, di = np.flatnonzero(split_col == split), np.flatnonzero(doc_split == split)
                local = {int(d): j for j, d in enumerate(di)}
                for i in qi:
                    if any(int(p) not in local for p in pos_idx[i]):
                        raise DataError(f"{qpath}: query '{qids[i]}' (split {split}) has a positive outside "
                                        f"the {split} documents, but the task ranks each split's own corpus")
                pos_local = [np.array([local[int(p)] for p in pos_idx[i]], dtype=np.int64) for i in qi]
                r, t = _global_ranks(qe[qi], de[di], keys[di], pos_local, depth)
                for j, i in enumerate(qi):
                    ranks[i], tops[i] = r[j], di[t[j]]
    else:
        ranks, tops = [], np.empty(len(qids), dtype=np.int64)
        for i, c in enumerate(cands):
            ci = np.array([doc_index[d] for d in c], dtype=np.int64)
            scores = de[ci] @ qe[i]
            mask = np.isin(ci, pos_idx[i])
            ranks.append(positive_ranks(scores, keys[ci], mask))
            tops[i] = ci[rank_order(scores, keys[ci])[0]]
    ks = tuple(sorted(set(DEFAULT_KS) | {int(k) for k in meta.options.get("ks", [])}))
    per_query = [query_metrics(r, len(p), ks) for r, p in zip(ranks, pos_idx, strict=True)]
    pq = pd.DataFrame(per_query)
    use_geo = meta.geo_metrics and {"lat", "lon"} <= set(queries.columns) and {"lat", "lon"} <= set(corpus.columns)
    if meta.geo_metrics and not use_geo:
        raise DataError(f"task '{meta.name}' needs lat/lon in queries.parquet and corpus.parquet for geo metrics")
    qtypes = queries["qtype"].astype(str).to_numpy() if "qtype" in queries else np.array([""] * len(queries))
    out: dict[str, dict] = {}
    for split in splits:
        m = split_col == split
        scores = _aggregate(pq[m], queries[m], corpus, tops[m], use_geo)
        types = sorted(set(qtypes[m]))
        if len(types) > 1:
            scores["by_qtype"] = {}
            for t in types:
                mt = m & (qtypes == t)
                scores["by_qtype"][t] = {**_aggregate(pq[mt], queries[mt], corpus, tops[mt], use_geo),
                                         "n_queries": int(mt.sum())}
        if meta.main_score not in scores:
            raise ValueError(f"task '{meta.name}' main_score '{meta.main_score}' is not a computed metric")
        scores["main_score"] = scores[meta.main_score]
        scores["n_queries"] = int(m.sum())
        scores["n_documents"] = n_docs[split]
        out[split] = scores
    ctx.timings["score"] = ctx.timings.get("score", 0.0) + time.perf_counter() - t0
    return out


def _aggregate(pq: pd.DataFrame, q: pd.DataFrame, corpus: pd.DataFrame, tops: np.ndarray, use_geo: bool) -> dict:
    scores: dict = {c: float(pq[c].mean()) for c in pq.columns}
    if use_geo:
        lat = corpus["lat"].to_numpy(dtype=np.float64)
        lon = corpus["lon"].to_numpy(dtype=np.float64)
        scores.update(geo_metrics(q["lat"].to_numpy(np.float64), q["lon"].to_numpy(np.float64), lat[tops], lon[tops]))
    return scores
