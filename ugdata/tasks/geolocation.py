"""Geolocation ranking: an image (optionally with its ego graph) ranks candidate location descriptions.

Candidates per query: the true location's description plus the descriptions of the nearest OTHER view
points (at least 25 m away), so the model must tell apart places a street apart, not cities apart.
"""

from __future__ import annotations

import pandas as pd

from ugdata.format import TaskSpec
from ugdata.tasks.common import (
    EVAL_SPLITS,
    TaskInputs,
    TaskOutput,
    cap_sample,
    near_neighbours,
    queries_frame,
)
from ugdata.tasks.registry import register_builder

NAME = "geoloc_rank"


@register_builder(NAME, order=10)
def build(inp: TaskInputs) -> TaskOutput | None:
    docs = inp.point_docs[inp.point_docs.split.isin(EVAL_SPLITS)].reset_index(drop=True)
    if len(docs) < 2:
        return None
    neigh = near_neighbours(docs.lat, docs.lon, inp.n_candidates - 1, inp.min_negative_m, group=docs.split)
    doc_row = {k: i for i, k in enumerate(docs.point_key)}
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)]
    # one view per point (the lowest fov index) is the query image
    v = v.sort_values(["point_key", "fov_index", "image_id"]).drop_duplicates("point_key")
    v = cap_sample(v, inp.max_queries, inp.seed)
    rows = []
    doc_ids = docs.doc_id.tolist()
    for r in v[["point_key", "image_id", "split", "graph_context", "lat", "lon"]].itertuples(index=False):
        i = doc_row[r.point_key]
        cands = [doc_ids[i]] + [doc_ids[j] for j in neigh[i]]
        if len(cands) < 2:
            continue
        rows.append({"query_id": f"{NAME}/{r.image_id}", "split": r.split, "text": None, "image_id": r.image_id,
                     "graph_context": list(r.graph_context), "lat": float(r.lat), "lon": float(r.lon),
                     "qtype": "image", "candidate_ids": sorted(cands), "positive_ids": [doc_ids[i]]})
    corpus = pd.DataFrame({
        "doc_id": docs.doc_id, "text": docs.text, "image_id": None, "graph_context": docs.graph_context,
        "lat": docs.lat.astype(float), "lon": docs.lon.astype(float), "kind": "location", "split": docs.split,
    })
    spec = TaskSpec(
        name=NAME, description="Rank candidate location descriptions (street, nearest intersection, nearby places) for a "
                    "street view; negatives are the nearest other view points (>= 25 m away).",
        query_modalities=["image", "graph"], doc_modalities=["text", "graph"],
        instructions={"query": "Represent this street view for finding where it was taken.",
                      "document": "Represent this location description for matching street views."},
        splits=list(EVAL_SPLITS),

    )
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus.reset_index(drop=True)})


