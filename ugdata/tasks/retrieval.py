"""Image retrieval: caption text -> image, reasoning-path text -> image, image -> image (same point,
another heading). Candidates: the positive, other headings at the same point where the query names a
heading, and views at the nearest other points of its split (>= 25 m away), up to the build's
`n_candidates` (25 in the UGBench 2.0 preset; queries with fewer than common.MIN_CANDIDATES are dropped in
such builds and counted in task.json extra["candidates"]).

Caption -> image has two query modes (the paper's): text (the caption) and fusion (the caption plus a view
of the same point facing another way, which is never among the candidates). Both rank the same candidates
wherever the point has a fourth view to show; the fusion query must take the place from its image and the
direction from its text. Documents are images, so no query text can match a document's words.

The three tasks share one candidate pool (`_Pool`), one query-row shape (`_row`) and one spec and corpus
(`_output`); each builder says only what differs: its queries, its positive and its candidate rule. The
random generators are seeded per task (seed, seed + 1, seed + 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ugdata.format import TaskSpec
from ugdata.tasks.common import (
    EVAL_SPLITS,
    TaskInputs,
    TaskOutput,
    candidate_facts,
    cap_sample,
    image_corpus,
    min_candidates,
    near_neighbours,
    queries_frame,
    require_some,
)
from ugdata.tasks.registry import register_builder

INSTR_DOC = "Represent this street view for retrieval."


@dataclass
class _Pool:
    """The evaluation views grouped by sampling point, with each point's nearest other points."""

    views: pd.DataFrame  # views of the evaluation splits
    pt_keys: list[str]  # one entry per point, in first-seen order
    neigh: Any  # per point (row of pt_keys): indices of the nearest other points, nearest first
    by_point: dict[str, list[str]]  # point_key -> its image ids
    fov: dict[str, int]  # image id -> heading index
    pt_row: dict[str, int]  # point_key -> row in pt_keys
    graph: dict[str, list[str]]  # image id -> its graph context (ego subgraph node ids)

    @classmethod
    def of(cls, inp: TaskInputs) -> _Pool:
        v = inp.views[inp.views.split.isin(EVAL_SPLITS)].reset_index(drop=True)
        pts = v.drop_duplicates("point_key").reset_index(drop=True)
        neigh = near_neighbours(pts.lat, pts.lon, inp.n_candidates, inp.min_negative_m,
                                 group=pts.city + "|" + pts.split)  # one city's flat projection
        by_point: dict[str, list[str]] = {}
        for pk, iid in zip(v.point_key.tolist(), v.image_id.tolist(), strict=True):
            by_point.setdefault(pk, []).append(iid)
        return cls(v, pts.point_key.tolist(), neigh, by_point, dict(zip(v.image_id, v.fov_index, strict=True)),
                   {k: i for i, k in enumerate(pts.point_key)},
                   dict(zip(v.image_id, v.graph_context, strict=True)))

    def candidates(self, positive: str, point_key: str, n: int, rng: np.random.Generator, *,
                   heading_of: str | None = None, same_point: list[str] | tuple[str, ...] = ()) -> list[str]:
        """`positive`, then `same_point` negatives, then one view per nearest other point until `n`.

        With `heading_of`, a neighbour's view with that image's heading is preferred (a text naming a
        heading must not be solvable by heading alone); otherwise any of the neighbour's views.
        """
        cands = [positive, *same_point]
        for j in self.neigh[self.pt_row[point_key]]:
            if len(cands) >= n:
                break
            imgs = self.by_point[self.pt_keys[j]]
            same = [x for x in imgs if heading_of is not None and self.fov[x] == self.fov[heading_of]]
            pool = same or imgs
            cands.append(pool[int(rng.integers(len(pool)))])
        return cands


def _row(query_id: str, r, cands: list[str], positive: str, *, text: str | None, image_id: str | None,
         graph_context: list[str], qtype: str, mode: str) -> dict:
    return {"query_id": query_id, "split": r.split, "text": text, "image_id": image_id,
            "graph_context": graph_context, "lat": float(r.lat), "lon": float(r.lon), "qtype": qtype,
            "candidate_ids": sorted(cands), "positive_ids": [positive], "query_mode": mode}


def _output(name: str, rows: list[dict], pool: _Pool, inp: TaskInputs, dropped: int, *, description: str,
            query_modalities: list[str], query_instruction: str, modes: dict[str, list[str]] | None = None,
            mode_instructions: dict[str, str] | None = None) -> TaskOutput:
    require_some(rows, dropped, inp)
    first = rows[0]["query_mode"] if rows else None  # the candidate facts of the task's own mode
    spec = TaskSpec(name=name, description=description, query_modalities=query_modalities, doc_modalities=["image", "graph"],
                    instructions={"query": query_instruction, "document": INSTR_DOC,
                                  **{f"query:{m}": t for m, t in (mode_instructions or {}).items()}},
                    splits=list(EVAL_SPLITS),
                    extra={"candidates": candidate_facts(inp, [r for r in rows if r["query_mode"] == first], dropped),
                           **({"query_modes": modes} if modes else {})})
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": image_corpus(pool.views)})


@register_builder("retrieval_caption2image", order=20)
def build_caption2image(inp: TaskInputs) -> TaskOutput | None:
    name = "retrieval_caption2image"
    pool = _Pool.of(inp)
    if len(pool.pt_keys) < 2:
        return None
    rng = np.random.default_rng(inp.seed)
    rows, fusion, dropped = [], [], 0
    for r in cap_sample(pool.views, inp.max_queries, inp.seed).itertuples(index=False):
        others = [x for x in pool.by_point[r.point_key] if x != r.image_id]
        cands = pool.candidates(r.image_id, r.point_key, inp.n_candidates, rng, heading_of=r.image_id,
                                same_point=others[:2])
        if len(cands) < min_candidates(inp):
            dropped += 1
            continue
        rows.append(_row(f"{name}/{r.image_id}", r, cands, r.image_id, text=r.caption, image_id=None,
                         graph_context=[], qtype="caption", mode="text"))
        if others:  # fusion: a view of the same point that is not a candidate (the third other heading)
            shown = others[2] if len(others) >= 3 else others[-1]
            f_cands = [x for x in cands if x != shown]
            if len(f_cands) >= min_candidates(inp):
                fusion.append(_row(f"{name}/{r.image_id}/fusion", r, f_cands, r.image_id, text=r.caption,
                                   image_id=shown, graph_context=list(pool.graph[shown]), qtype="fusion",
                                   mode="fusion"))
    return _output(name, rows + fusion, pool, inp, dropped, query_modalities=["image", "text", "graph"],
                   description="Find the street view a spatial-context caption describes (text mode), or the "
                               "caption plus a view of the same point facing another way (fusion mode), among "
                               "views of the same point at other headings and of the nearest other points.",
                   query_instruction="Find the street view that matches this spatial description.",
                   modes={"text": ["text"], "fusion": ["image", "text", "graph"]},
                   mode_instructions={"fusion": "Find the view of this place, shown here facing another way, that "
                                                "matches the spatial description."})


@register_builder("retrieval_path2image", order=30)
def build_path2image(inp: TaskInputs) -> TaskOutput | None:
    name = "retrieval_path2image"
    pool = _Pool.of(inp)
    if len(pool.pt_keys) < 2 or inp.paths.empty:
        return None
    rng = np.random.default_rng(inp.seed + 1)
    p = inp.paths[inp.paths.split.isin(EVAL_SPLITS)]
    # the longest path of each image (most spatial content), ties by path id
    p = p.sort_values(["image_id", "hops", "path_id"], ascending=[True, False, True]).drop_duplicates("image_id")
    p = p.merge(pool.views[["image_id", "point_key", "lat", "lon"]], on="image_id")
    rows, dropped = [], 0
    for r in cap_sample(p, inp.max_queries, inp.seed).itertuples(index=False):
        cands = pool.candidates(r.image_id, r.point_key, inp.n_candidates, rng, heading_of=r.image_id)
        if len(cands) < min_candidates(inp):
            dropped += 1
            continue
        rows.append(_row(f"{name}/{r.path_id}", r, cands, r.image_id, text=r.text, image_id=None,
                         graph_context=[], qtype=f"path{int(r.hops)}", mode="text"))
    return _output(name, rows, pool, inp, dropped, query_modalities=["text"],
                   description="Find the street view a spatial reasoning path starts from, among views of the "
                               "nearest other points.",
                   query_instruction="Find the street view where this spatial reasoning path starts.")


@register_builder("retrieval_image2image", order=40)
def build_image2image(inp: TaskInputs) -> TaskOutput | None:
    name = "retrieval_image2image"
    pool = _Pool.of(inp)
    multi = pool.views[pool.views.point_key.map(lambda k: len(pool.by_point[k]) >= 2)]
    if multi.empty or len(pool.pt_keys) < 2:
        return None
    rng = np.random.default_rng(inp.seed + 2)
    rows, dropped = [], 0
    for r in cap_sample(multi, inp.max_queries, inp.seed).itertuples(index=False):
        others = [x for x in pool.by_point[r.point_key] if x != r.image_id]
        # the positive: the view facing the opposite way if present (hardest), else another heading
        opp = [x for x in others if pool.fov[x] == (pool.fov[r.image_id] + 2) % 4]
        pos = (opp or others)[0]
        cands = pool.candidates(pos, r.point_key, inp.n_candidates, rng)
        if len(cands) < min_candidates(inp):
            dropped += 1
            continue
        rows.append(_row(f"{name}/{r.image_id}", r, cands, pos, text=None, image_id=r.image_id,
                         graph_context=list(r.graph_context), qtype="image", mode="image"))
    return _output(name, rows, pool, inp, dropped, query_modalities=["image", "graph"],
                   description="Given a street view, find a view taken at the same point with another heading, "
                               "among views at the nearest other points.",
                   query_instruction="Represent this street view to find other views of the same place.")
