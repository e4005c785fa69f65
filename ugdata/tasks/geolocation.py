"""Geolocation ranking: a street view (optionally with its ego graph) ranks candidate location descriptions.

Candidates per query: the true location's description plus the descriptions of the nearest OTHER view
points of its split (at least 25 m away), up to the build's `n_candidates` (the UGBench 2.0 preset: 25), so
the model must tell apart places a street apart, not cities apart.

Three query modes (the paper's), one query per mode and sampled view point, all ranking the same candidates:
- image:  the street view (`query_mode` image; the task `geoloc_rank`);
- fusion: the street view plus a scene text (`geoloc_rank_fusion`);
- text:   the scene text alone (`geoloc_rank_text`).
The scene text says what the view shows (atmosphere, street furniture, kinds of shops, buildings) from the
view's name-free StreetSem-style `atmosphere` and `object` texts, and then loses every word that occurs in
any of its candidates' descriptions (common.mask_words): a location description names streets, crossings
and places, so any shared word would let a keyword model find the answer by word overlap instead of
understanding the scene.
"""

from __future__ import annotations

import pandas as pd

from ugdata.format import TaskSpec
from ugdata.tasks.common import (
    EVAL_SPLITS,
    TaskInputs,
    TaskOutput,
    candidate_facts,
    cap_sample,
    mask_words,
    min_candidates,
    near_neighbours,
    queries_frame,
    require_some,
    words,
)
from ugdata.tasks.registry import register_builder

NAME = "geoloc_rank"
IMAGE_INSTRUCTION = "Represent this street view for finding where it was taken."
QUERY_MODALITIES = {"image": ["image", "graph"], "fusion": ["image", "text", "graph"], "text": ["text", "graph"]}


def scene_text(queries: dict | None, banned: set[str]) -> str:
    """What the view shows, in words without any of `banned` (its candidates' words): module docstring."""
    q = queries or {}
    parts = [str(q.get(k) or "").strip() for k in ("atmosphere", "object")]
    return mask_words(". ".join(p for p in parts if p), banned)


@register_builder(NAME, order=10)
def build(inp: TaskInputs) -> TaskOutput | None:
    docs = inp.point_docs[inp.point_docs.split.isin(EVAL_SPLITS)].reset_index(drop=True)
    if len(docs) < 2:
        return None
    neigh = near_neighbours(docs.lat, docs.lon, inp.n_candidates - 1, inp.min_negative_m,
                            group=docs.city + "|" + docs.split)  # one city's flat projection
    doc_row = {k: i for i, k in enumerate(docs.point_key)}
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)]
    # one view per point (the lowest fov index) is the query image
    v = v.sort_values(["point_key", "fov_index", "image_id"]).drop_duplicates("point_key")
    v = cap_sample(v, inp.max_queries, inp.seed)
    rows, dropped = [], 0
    doc_ids, doc_words = docs.doc_id.tolist(), [words(t) for t in docs.text]
    has_queries = "queries" in v.columns
    cols = ["point_key", "image_id", "split", "graph_context", "lat", "lon"] + (["queries"] if has_queries else [])
    for r in v[cols].itertuples(index=False):
        i = doc_row[r.point_key]
        cand_rows = [i] + list(neigh[i])
        if len(cand_rows) < min_candidates(inp):
            dropped += 1
            continue
        cands = sorted(doc_ids[j] for j in cand_rows)
        base = {"split": r.split, "graph_context": list(r.graph_context), "lat": float(r.lat), "lon": float(r.lon),
                "candidate_ids": cands, "positive_ids": [doc_ids[i]]}
        rows.append({**base, "query_id": f"{NAME}/{r.image_id}", "text": None, "image_id": r.image_id,
                     "qtype": "image", "query_mode": "image"})
        text = scene_text(r.queries if has_queries else None, set().union(*(doc_words[j] for j in cand_rows)))
        if text:
            rows.append({**base, "query_id": f"{NAME}/{r.image_id}/fusion", "text": text, "image_id": r.image_id,
                         "qtype": "fusion", "query_mode": "fusion"})
            rows.append({**base, "query_id": f"{NAME}/{r.image_id}/text", "text": text, "image_id": None,
                         "qtype": "text", "query_mode": "text"})
    require_some(rows, dropped, inp)
    corpus = pd.DataFrame({
        "doc_id": docs.doc_id, "text": docs.text, "image_id": None, "graph_context": docs.graph_context,
        "lat": docs.lat.astype(float), "lon": docs.lon.astype(float), "kind": "location", "split": docs.split,
    })
    spec = TaskSpec(
        name=NAME, description="Rank candidate location descriptions (street, nearest intersection, nearby places) for a "
                    "street view (image mode), the view plus a scene text (fusion) or the scene text alone (text); "
                    "negatives are the nearest other view points (>= 25 m away). The scene text shares no word "
                    "with its candidates' descriptions.",
        query_modalities=["image", "text", "graph"], doc_modalities=["text", "graph"],
        instructions={"query": IMAGE_INSTRUCTION,
                      "query:fusion": "Represent this street view and its description for finding where it was taken.",
                      "query:text": "Represent this description of a street scene for finding where it is.",
                      "document": "Represent this location description for matching street views."},
        splits=list(EVAL_SPLITS),
        extra={"query_modes": QUERY_MODALITIES, "candidates": candidate_facts(
            inp, [r for r in rows if r["query_mode"] == "image"], dropped)},
    )
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus.reset_index(drop=True)})
