"""Image retrieval: caption text -> image, reasoning-path text -> image, image -> image (same point,
another heading). Candidates: the positive, other headings at the same point where the query names a
heading, and views at the nearest other points (>= 25 m away)."""

from __future__ import annotations

import numpy as np

from ugdata.format import TaskSpec
from ugdata.tasks.common import (
    EVAL_SPLITS,
    TaskInputs,
    TaskOutput,
    cap_sample,
    image_corpus,
    near_neighbours,
    queries_frame,
)

INSTR_DOC = "Represent this street view for retrieval."


def _pools(inp: TaskInputs):
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)].reset_index(drop=True)
    pts = v.drop_duplicates("point_key").reset_index(drop=True)
    neigh = near_neighbours(pts.lat, pts.lon, inp.n_candidates, inp.min_negative_m, group=pts.split)
    by_point: dict[str, list[str]] = {}
    for pk, iid in zip(v.point_key.tolist(), v.image_id.tolist(), strict=True):
        by_point.setdefault(pk, []).append(iid)
    fov = dict(zip(v.image_id, v.fov_index, strict=True))
    pt_row = {k: i for i, k in enumerate(pts.point_key)}
    return v, pts.point_key.tolist(), neigh, by_point, fov, pt_row


def _candidates(image_id, point_key, n, same_point_negs, v_pts, neigh, by_point, fov, pt_row, rng):
    cands = [image_id]
    if same_point_negs:
        cands += [x for x in by_point[point_key] if x != image_id][:2]
    for j in neigh[pt_row[point_key]]:
        if len(cands) >= n:
            break
        imgs = by_point[v_pts[j]]
        same = [x for x in imgs if fov[x] == fov[image_id]]
        cands.append((same or imgs)[int(rng.integers(len(same or imgs)))])
    return cands


def build_caption2image(inp: TaskInputs) -> TaskOutput | None:
    name = "retrieval_caption2image"
    v, pt_keys, neigh, by_point, fov, pt_row = _pools(inp)
    if len(pt_keys) < 2:
        return None
    rng = np.random.default_rng(inp.seed)
    q = cap_sample(v, inp.max_queries, inp.seed)
    rows = []
    for r in q.itertuples(index=False):
        cands = _candidates(r.image_id, r.point_key, inp.n_candidates, True, pt_keys, neigh, by_point, fov, pt_row, rng)
        if len(cands) < 2:
            continue
        rows.append({"query_id": f"{name}/{r.image_id}", "split": r.split, "text": r.caption, "image_id": None,
                     "graph_context": [], "lat": float(r.lat), "lon": float(r.lon), "qtype": "caption",
                     "candidate_ids": sorted(cands), "positive_ids": [r.image_id]})
    spec = TaskSpec(name=name, family="retrieval",
                    description="Find the street view a spatial-context caption describes among views of the same "
                                "point at other headings and of the nearest other points.",
                    main_score="hit@1", query_modalities=["text"], doc_modalities=["image", "graph"],
                    instructions={"query": "Find the street view that matches this spatial description.",
                                  "document": INSTR_DOC},
                    protocol="local", splits=list(EVAL_SPLITS),
                    extra={"metrics": ["hit@1", "hit@3", "hit@5", "mrr"]})
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": image_corpus(v)})


def build_path2image(inp: TaskInputs) -> TaskOutput | None:
    name = "retrieval_path2image"
    v, pt_keys, neigh, by_point, fov, pt_row = _pools(inp)
    if len(pt_keys) < 2 or inp.paths.empty:
        return None
    rng = np.random.default_rng(inp.seed + 1)
    p = inp.paths[inp.paths.split.isin(EVAL_SPLITS)]
    # the longest path of each image (most spatial content), ties by path id
    p = p.sort_values(["image_id", "hops", "path_id"], ascending=[True, False, True]).drop_duplicates("image_id")
    p = p.merge(v[["image_id", "point_key", "lat", "lon"]], on="image_id")
    p = cap_sample(p, inp.max_queries, inp.seed)
    rows = []
    for r in p.itertuples(index=False):
        cands = _candidates(r.image_id, r.point_key, inp.n_candidates, False, pt_keys, neigh, by_point, fov, pt_row, rng)
        if len(cands) < 2:
            continue
        rows.append({"query_id": f"{name}/{r.path_id}", "split": r.split, "text": r.text, "image_id": None,
                     "graph_context": [], "lat": float(r.lat), "lon": float(r.lon), "qtype": f"path{int(r.hops)}",
                     "candidate_ids": sorted(cands), "positive_ids": [r.image_id]})
    spec = TaskSpec(name=name, family="retrieval",
                    description="Find the street view a spatial reasoning path starts from, among views of the "
                                "nearest other points.",
                    main_score="hit@1", query_modalities=["text"], doc_modalities=["image", "graph"],
                    instructions={"query": "Find the street view where this spatial reasoning path starts.",
                                  "document": INSTR_DOC},
                    protocol="local", splits=list(EVAL_SPLITS), extra={"metrics": ["hit@1", "hit@3", "hit@5", "mrr"]})
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": image_corpus(v)})


def build_image2image(inp: TaskInputs) -> TaskOutput | None:
    name = "retrieval_image2image"
    v, pt_keys, neigh, by_point, fov, pt_row = _pools(inp)
    multi = v[v.point_key.map(lambda k: len(by_point[k]) >= 2)]
    if multi.empty or len(pt_keys) < 2:
        return None
    rng = np.random.default_rng(inp.seed + 2)
    q = cap_sample(multi, inp.max_queries, inp.seed)
    rows = []
    for r in q.itertuples(index=False):
        others = [x for x in by_point[r.point_key] if x != r.image_id]
        # the positive: the view facing the opposite way if present (hardest), else another heading
        opp = [x for x in others if fov[x] == (fov[r.image_id] + 2) % 4]
        pos = (opp or others)[0]
        cands = [pos]
        for j in neigh[pt_row[r.point_key]]:
            if len(cands) >= inp.n_candidates:
                break
            imgs = by_point[pt_keys[j]]
            cands.append(imgs[int(rng.integers(len(imgs)))])
        rows.append({"query_id": f"{name}/{r.image_id}", "split": r.split, "text": None, "image_id": r.image_id,
                     "graph_context": list(r.graph_context), "lat": float(r.lat), "lon": float(r.lon),
                     "qtype": "image", "candidate_ids": sorted(cands), "positive_ids": [pos]})
    spec = TaskSpec(name=name, family="retrieval",
                    description="Given a street view, find a view taken at the same point with another heading, "
                                "among views at the nearest other points.",
                    main_score="hit@1", query_modalities=["image", "graph"], doc_modalities=["image", "graph"],
                    instructions={"query": "Represent this street view to find other views of the same place.",
                                  "document": INSTR_DOC},
                    protocol="local", splits=list(EVAL_SPLITS), extra={"metrics": ["hit@1", "hit@3", "hit@5", "mrr"]})
    corpus = image_corpus(v)
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus})


