"""Spatial grounding: nearest-POI (which of these nearby places is closest to the camera?) and
distance-direction (how far and which way is a named place?) with candidate answers.

Nearest-POI candidates are the true nearest POI and the next-nearest POIs around the view (hard: all
within ~100 m). Distance-direction candidates are the true answer (distance rounded to 5 m, 8-way compass
from haversine and initial bearing) plus answers that change only the direction, only the distance, or both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ugcore.geo import COMPASS8
from ugdata.format import TaskSpec
from ugdata.tasks.common import EVAL_SPLITS, TaskInputs, TaskOutput, cap_sample, queries_frame
from ugdata.tasks.registry import register_builder

COMPASS_WORDS = {"N": "north", "NE": "north-east", "E": "east", "SE": "south-east", "S": "south",
                 "SW": "south-west", "W": "west", "NW": "north-west"}


def poi_doc_text(name: str, category: str) -> str:
    return f"{name or 'an unnamed place'} ({category.replace('_', ' ')})"


def answer_text(dist_m: float, compass: str) -> str:
    return f"about {int(5 * round(dist_m / 5)):d} m to the {COMPASS_WORDS[compass]}"


@register_builder("grounding_nearest_poi", order=60)
def build_nearest_poi(inp: TaskInputs) -> TaskOutput | None:
    name = "grounding_nearest_poi"
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)]
    v = v[v.poi_ids.map(len) >= 3]
    if v.empty:
        return None
    v = cap_sample(v, inp.max_queries, inp.seed)
    nodes = inp.nodes.set_index("node_id")
    rows, docs = [], {}
    for r in v.itertuples(index=False):
        ids = list(r.poi_ids)[: inp.n_candidates]
        d = list(r.poi_dist)[: inp.n_candidates]
        if len(d) >= 2 and abs(d[1] - d[0]) < 3.0:  # ambiguous within 3 m: not a fair question
            continue
        for pid in ids:
            docs[pid] = pid
        rows.append({"query_id": f"{name}/{r.image_id}", "split": r.split,
                     "text": "Which of these places is nearest to where this street view was taken?",
                     "image_id": r.image_id, "graph_context": list(r.graph_context), "lat": float(r.lat),
                     "lon": float(r.lon), "qtype": "nearest_poi", "candidate_ids": sorted(ids), "positive_ids": [ids[0]]})
    if not rows:
        return None
    dd = nodes.loc[sorted(docs)]
    corpus = pd.DataFrame({"doc_id": dd.index.to_numpy(), "text": [poi_doc_text(n, c) for n, c in zip(dd.name, dd.category, strict=True)],
                           "image_id": None, "graph_context": [[x] for x in dd.index], "lat": dd.lat.to_numpy(float),
                           "lon": dd.lon.to_numpy(float), "kind": "poi", "split": ""})
    spec = TaskSpec(name=name, description="Pick the point of interest nearest to the camera among the POIs around it.",
                    query_modalities=["image", "text", "graph"], doc_modalities=["text", "graph"],
                    instructions={"query": "Represent this street view and question to find the nearest place.",
                                  "document": "Represent this place."},
                    splits=list(EVAL_SPLITS))
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus})


@register_builder("grounding_distance_direction", order=70)
def build_distance_direction(inp: TaskInputs) -> TaskOutput | None:
    name = "grounding_distance_direction"
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)]
    v = v[v.poi_ids.map(len) >= 1]
    if v.empty:
        return None
    v = cap_sample(v, inp.max_queries, inp.seed)
    name_of = dict(zip(inp.nodes.node_id.tolist(), inp.nodes.name.tolist(), strict=True))
    cat_of = dict(zip(inp.nodes.node_id.tolist(), inp.nodes.category.tolist(), strict=True))
    rng = np.random.default_rng(inp.seed + 3)
    rows, docs = [], []
    for r in v.itertuples(index=False):
        named = [k for k, pid in enumerate(r.poi_ids) if name_of[pid]]
        if not named:
            continue
        k = named[int(rng.integers(len(named)))]
        pid, dist, bear = r.poi_ids[k], float(r.poi_dist[k]), float(r.poi_bearing[k])
        ci = int(np.floor(((bear % 360) + 22.5) / 45.0)) % 8
        true = answer_text(dist, COMPASS8[ci])
        alts = []
        for dci in (4, 2, -2, 1, -1):  # other directions, same distance (opposite first)
            alts.append(answer_text(dist, COMPASS8[(ci + dci) % 8]))
        for f in (0.5, 2.0, 3.0):  # same direction, other distances
            alts.append(answer_text(max(dist * f, 5.0) if abs(dist * f - dist) >= 10 else dist + 20 * f, COMPASS8[ci]))
        alts.append(answer_text(dist * 2.0 + 10, COMPASS8[(ci + 4) % 8]))
        cand_text = list(dict.fromkeys([true] + [a for a in alts if a != true]))[: inp.n_candidates]
        qid = f"{name}/{r.image_id}"
        ids = []
        for j, t in enumerate(cand_text):
            did = f"{qid}/a{j}"
            ids.append(did)
            docs.append({"doc_id": did, "text": t, "image_id": None, "graph_context": [], "lat": float(r.lat),
                         "lon": float(r.lon), "kind": "answer", "split": r.split})
        pname = name_of[pid]
        pcat = str(cat_of[pid]).replace("_", " ")
        rows.append({"query_id": qid, "split": r.split,
                     "text": f"How far from this street view, and in which direction, is {pname} ({pcat})?",
                     "image_id": r.image_id, "graph_context": list(r.graph_context), "lat": float(r.lat),
                     "lon": float(r.lon), "qtype": "distance_direction", "candidate_ids": sorted(ids),
                     "positive_ids": [ids[0]], "target_node_id": pid, "distance_m": dist, "bearing_deg": bear})
    if not rows:
        return None
    q = queries_frame(rows)
    extra = pd.DataFrame(rows)[["query_id", "target_node_id", "distance_m", "bearing_deg"]]
    q = q.merge(extra, on="query_id", how="left")
    spec = TaskSpec(name=name, description="Choose how far (5 m steps) and in which 8-way direction a named nearby place lies "
                                "from the camera; distractors change only the direction, only the distance, or both.",
                    query_modalities=["image", "text", "graph"], doc_modalities=["text"],
                    instructions={"query": "Represent this street view and question to find the right answer.",
                                  "document": "Represent this answer."},
                    splits=list(EVAL_SPLITS))
    return TaskOutput(spec, {"queries": q, "corpus": pd.DataFrame(docs)})
