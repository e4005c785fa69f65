"""Spatial grounding: nearest-POI (which of these places is closest to the camera?) and distance-direction
(how far and which way is a named place?) with candidate answers.

Nearest-POI: a street view (image only: the question, the same for every query, is the task's instruction)
ranks the nearest `n_candidates` POIs around it (25 in the UGBench 2.0 preset), nearest first by haversine
distance on the sphere, so every negative is a hard one: the next-nearest places. A POI whose text (name and
category) repeats an earlier candidate's is skipped (no model could tell the two apart), and a view whose two
nearest POIs are within 3 m of the same distance is not asked (no fair answer).

Distance-direction: the true answer (distance rounded to 5 m, 8-way compass from haversine and initial
bearing) plus distractors that change only the direction (opposite first), only the distance (a ladder of
factors around the true distance, nearest first: 0.71, 1.41, 0.5, 2, ...) or both (seeded draws from the
grid of the other distances and directions): about a third each, up to `n_candidates` answers. Answers are
shuffled before they get their ids, so a document id never tells the answer.

In builds asking for common.MIN_CANDIDATES or more candidates, a query with fewer is dropped and counted in
task.json extra["candidates"] (common.py says why).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ugcore.geo import COMPASS8, haversine_m
from ugdata.format import TaskSpec
from ugdata.tasks.common import (
    EVAL_SPLITS,
    TaskInputs,
    TaskOutput,
    candidate_facts,
    cap_sample,
    min_candidates,
    queries_frame,
    require_some,
)
from ugdata.tasks.registry import register_builder

COMPASS_WORDS = {"N": "north", "NE": "north-east", "E": "east", "SE": "south-east", "S": "south",
                 "SW": "south-west", "W": "west", "NW": "north-west"}
NEAREST_QUESTION = "Which of these places is nearest to where this street view was taken?"
OTHER_DIRECTIONS = (4, 2, -2, 1, -1, 3, -3)  # compass steps from the true direction, hardest to tell apart last
DISTANCE_FACTORS = (0.71, 1.41, 0.5, 2.0, 0.35, 2.83, 0.25, 4.0)  # 2^(k/2), nearest to the truth first


def poi_doc_text(name: str, category: str) -> str:
    return f"{name or 'an unnamed place'} ({category.replace('_', ' ')})"


def answer_text(dist_m: float, compass: str) -> str:
    return f"about {int(5 * round(dist_m / 5)):d} m to the {COMPASS_WORDS[compass]}"


def _unit_xyz(lat, lon) -> np.ndarray:
    """Points on the unit sphere: chord distance orders pairs exactly as great-circle distance does, so one
    k-d tree finds the nearest POIs of any city without a map projection."""
    la, lo = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@register_builder("grounding_nearest_poi", order=60)
def build_nearest_poi(inp: TaskInputs) -> TaskOutput | None:
    name = "grounding_nearest_poi"
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)]
    v = v[v.poi_ids.map(len) >= 3]  # at least 3 places within the view's 100 m context: a question worth asking
    pois = inp.nodes[inp.nodes.type == "poi"].reset_index(drop=True)
    if v.empty or len(pois) < 2:
        return None
    v = cap_sample(v, inp.max_queries, inp.seed)
    texts = [poi_doc_text(n, c) for n, c in zip(pois.name, pois.category, strict=True)]
    plat, plon = pois.lat.to_numpy(float), pois.lon.to_numpy(float)
    k = min(len(pois), 4 * inp.n_candidates + 8)  # room to skip repeated texts
    _, nn = cKDTree(_unit_xyz(plat, plon)).query(_unit_xyz(v.lat, v.lon), k=k)
    nn = np.asarray(nn).reshape(len(v), k)
    rows, docs, dropped = [], set(), 0
    for r, near in zip(v.itertuples(index=False), nn, strict=True):
        d = haversine_m(r.lat, r.lon, plat[near], plon[near])
        near = near[np.argsort(d, kind="stable")]  # exact haversine order
        d = np.sort(d, kind="stable")
        if abs(d[1] - d[0]) < 3.0:  # ambiguous within 3 m: not a fair question
            continue
        picked, seen = [], set()
        for j in near.tolist():
            if texts[j] not in seen:
                picked.append(j)
                seen.add(texts[j])
            if len(picked) == inp.n_candidates:
                break
        if len(picked) < min_candidates(inp):
            dropped += 1
            continue
        ids = [str(pois.node_id[j]) for j in picked]
        docs.update(picked)
        rows.append({"query_id": f"{name}/{r.image_id}", "split": r.split, "text": None, "image_id": r.image_id,
                     "graph_context": list(r.graph_context), "lat": float(r.lat), "lon": float(r.lon),
                     "qtype": "nearest_poi", "candidate_ids": sorted(ids), "positive_ids": [ids[0]],
                     "query_mode": "image"})
    require_some(rows, dropped, inp)
    if not rows:
        return None
    dd = pois.iloc[sorted(docs)]
    corpus = pd.DataFrame({"doc_id": dd.node_id.to_numpy(), "text": [texts[j] for j in dd.index],
                           "image_id": None, "graph_context": [[x] for x in dd.node_id], "lat": dd.lat.to_numpy(float),
                           "lon": dd.lon.to_numpy(float), "kind": "poi", "split": ""})
    corpus = corpus.sort_values("doc_id", kind="stable").reset_index(drop=True)
    spec = TaskSpec(name=name, description="Pick the point of interest nearest to the camera among the nearest POIs "
                                           "around it (the question is the instruction; queries are images).",
                    query_modalities=["image", "graph"], doc_modalities=["text", "graph"],
                    instructions={"query": f"{NEAREST_QUESTION} Represent this street view to find the nearest place.",
                                  "document": "Represent this place."},
                    splits=list(EVAL_SPLITS), extra={"candidates": candidate_facts(inp, rows, dropped)})
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus})


def _distance_ladder(d0: int, n: int) -> list[int]:
    """Up to n distractor distances (5 m steps) around the rounded true distance d0, nearest first: each at
    least 10 m and 15% away from d0 and distinct from the others, so every answer text differs."""
    out: list[int] = []
    extra = (d0 + 15 * j for j in range(1, 10 * n + 10))  # for short distances the factors collapse
    for x in [5 * round(d0 * f / 5) for f in DISTANCE_FACTORS] + list(extra):
        x = int(x)
        if len(out) >= n:
            break
        if x >= 5 and abs(x - d0) >= max(10.0, 0.15 * d0) and x not in out:
            out.append(x)
    return out


def distance_direction_answers(dist_m: float, ci: int, n: int, rng: np.random.Generator) -> list[str]:
    """The true answer first, then n - 1 distractors: about a third change only the direction, a third only
    the distance, the rest both (module docstring)."""
    d0 = int(5 * round(dist_m / 5))
    r = max(n - 1, 0)
    n_dir = min(len(OTHER_DIRECTIONS), math.ceil(r / 3))
    ladder = _distance_ladder(d0, len(DISTANCE_FACTORS))
    n_dist = min(len(ladder), math.ceil(r / 3))
    dirs = [(ci + s) % 8 for s in OTHER_DIRECTIONS]
    out = [answer_text(d0, COMPASS8[ci])]
    out += [answer_text(d0, COMPASS8[d]) for d in dirs[:n_dir]]
    out += [answer_text(x, COMPASS8[ci]) for x in ladder[:n_dist]]
    both = [answer_text(x, COMPASS8[d]) for x in ladder for d in dirs]
    n_both = min(len(both), r - n_dir - n_dist)
    if n_both > 0:
        out += [both[int(j)] for j in np.sort(rng.choice(len(both), size=n_both, replace=False))]
    return list(dict.fromkeys(out))[:n]


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
    rows, docs, dropped = [], [], 0
    for r in v.itertuples(index=False):
        named = [k for k, pid in enumerate(r.poi_ids) if name_of[pid]]
        if not named:
            continue
        k = named[int(rng.integers(len(named)))]
        pid, dist, bear = r.poi_ids[k], float(r.poi_dist[k]), float(r.poi_bearing[k])
        ci = int(np.floor(((bear % 360) + 22.5) / 45.0)) % 8
        cand_text = distance_direction_answers(dist, ci, inp.n_candidates, rng)
        if len(cand_text) < min_candidates(inp):
            dropped += 1
            continue
        qid = f"{name}/{r.image_id}"
        ids = [f"{qid}/a{int(j)}" for j in rng.permutation(len(cand_text))]  # ids[i] names cand_text[i], shuffled
        for did, t in zip(ids, cand_text, strict=True):
            docs.append({"doc_id": did, "text": t, "image_id": None, "graph_context": [], "lat": float(r.lat),
                         "lon": float(r.lon), "kind": "answer", "split": r.split})
        pname = name_of[pid]
        pcat = str(cat_of[pid]).replace("_", " ")
        rows.append({"query_id": qid, "split": r.split,
                     "text": f"How far from this street view, and in which direction, is {pname} ({pcat})?",
                     "image_id": r.image_id, "graph_context": list(r.graph_context), "lat": float(r.lat),
                     "lon": float(r.lon), "qtype": "distance_direction", "candidate_ids": sorted(ids),
                     "positive_ids": [ids[0]], "query_mode": "fusion", "target_node_id": pid, "distance_m": dist,
                     "bearing_deg": bear})
    require_some(rows, dropped, inp)
    if not rows:
        return None
    q = queries_frame(rows)
    extra = pd.DataFrame(rows)[["query_id", "target_node_id", "distance_m", "bearing_deg"]]
    q = q.merge(extra, on="query_id", how="left")
    corpus = pd.DataFrame(docs).sort_values("doc_id", kind="stable").reset_index(drop=True)
    spec = TaskSpec(name=name, description="Choose how far (5 m steps) and in which 8-way direction a named nearby place lies "
                                "from the camera; distractors change only the direction, only the distance, or both.",
                    query_modalities=["image", "text", "graph"], doc_modalities=["text"],
                    instructions={"query": "Represent this street view and question to find the right answer.",
                                  "document": "Represent this answer."},
                    splits=list(EVAL_SPLITS), extra={"candidates": candidate_facts(inp, rows, dropped)})
    return TaskOutput(spec, {"queries": q, "corpus": corpus})
