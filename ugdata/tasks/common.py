"""Shared inputs and helpers for task writers: spatially near hard negatives, capped query samples,
candidate-count rules and facts, lexical masking of query texts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ugdata.format import TaskSpec
from ugdata.splits import local_xy

EVAL_SPLITS = ("val", "test")
# A local ranking query needs this many candidates for Hit@1's chance (1/n) to be at most 5% (UGBench 2.0).
# In a build asking for at least this many (`n_candidates`, 25 in the UGBench 2.0 preset), a query that cannot
# get them (too few points, POIs or answers near it) is dropped and counted in task.json extra["candidates"]
# ["dropped_short_queries"]: it would lift the task's chance above 5% unnoticed. Smaller builds (tests, the
# demo) keep any query with 2 or more candidates, and their chance is reported as it is.
MIN_CANDIDATES = 20


@dataclass
class TaskInputs:
    """What every task writer may read (all frames already final: ids, splits, captions, contexts)."""

    views: pd.DataFrame  # final view rows (no image bytes) + columns point_key, poi_* lists
    nodes: pd.DataFrame
    paths: pd.DataFrame
    point_docs: pd.DataFrame  # one row per point: point_key, text, lat, lon, city, split, graph_context
    seed: int
    n_candidates: int = 10
    max_queries: int = 700
    min_negative_m: float = 25.0


class TaskNotBuilt(Exception):
    """A task writer's way to say the task cannot be built validly on this data (the message says why); the
    builder omits the task and records the reason in manifest["omitted_tasks"]."""


def evaluable_problem(out: TaskOutput) -> str | None:
    """Why a written task could not be evaluated (None: it can): ugbench scores the val and test splits, so
    a ranking task needs a query with positives there, and a probe task a split among them with two or more
    spatial cross-validation folds."""
    if "targets" in out.tables:  # a probe task (targets.parquet) rather than a ranking one
        t = out.tables.get("targets")
        if t is None or t.empty:
            return "no perception targets"
        if "fold" in t.columns and "split" in t.columns:
            folds = {s: int(t.loc[t.split == s, "fold"].nunique()) for s in EVAL_SPLITS}
            if max(folds.values()) < 2:
                return ("probes need 2 or more spatial folds in val or test, but this data has "
                        + ", ".join(f"{n} in {s}" for s, n in folds.items())
                        + " (too small an area: build from a larger area or with more views)")
        return None
    q = out.tables.get("queries")
    if q is None or q.empty:
        return "no queries"
    if "split" in q.columns:
        q = q[q.split.isin(EVAL_SPLITS)]
        if "positive_ids" in q.columns:
            q = q[q.positive_ids.map(lambda x: x is not None and len(x) > 0)]
        if q.empty:
            return "no query with a positive in val or test"
    return None


@dataclass
class TaskOutput:
    spec: TaskSpec
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    note: str = ""


def near_neighbours(lat, lon, k: int, min_m: float, group=None) -> list[list[int]]:
    """For each row, up to k other rows nearest in space (same `group` value if given) that are at least
    min_m away: the spatially near but wrong candidates every task uses as hard negatives."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    n = len(lat)
    out: list[list[int]] = [[] for _ in range(n)]
    if n < 2:
        return out
    groups = np.zeros(n, dtype=np.int64) if group is None else pd.factorize(np.asarray(group))[0]
    for gval in np.unique(groups):
        idx = np.flatnonzero(groups == gval)
        if len(idx) < 2:
            continue
        xy = local_xy(lat[idx], lon[idx], float(lat[idx].mean()), float(lon[idx].mean()))
        kk = min(len(idx), k * 4 + 8)
        d, j = cKDTree(xy).query(xy, k=kk)
        d, j = d.reshape(len(idx), kk), j.reshape(len(idx), kk)
        ok = (d >= min_m) & (j != np.arange(len(idx))[:, None])
        ok &= np.cumsum(ok, axis=1) <= k  # the first k valid neighbours per row, nearest first
        gl = idx[j].tolist()
        for r, (row, m) in enumerate(zip(gl, ok.tolist(), strict=True)):
            out[idx[r]] = [x for x, keep in zip(row, m, strict=True) if keep]
    return out


def min_candidates(inp: TaskInputs) -> int:
    """The fewest candidates a written query may have (MIN_CANDIDATES above: why)."""
    return MIN_CANDIDATES if inp.n_candidates >= MIN_CANDIDATES else 2


def candidate_facts(inp: TaskInputs, rows: list[dict], dropped: int) -> dict:
    """task.json extra["candidates"]: the target and floor, candidates per written query, and how many
    queries were dropped for having fewer than the floor or written with fewer than the target."""
    n = np.array([len(r["candidate_ids"]) for r in rows], dtype=np.int64)
    return {"n_candidates": int(inp.n_candidates), "min_candidates": min_candidates(inp),
            "min": int(n.min()) if n.size else 0, "median": float(np.median(n)) if n.size else 0.0,
            "max": int(n.max()) if n.size else 0, "short_queries": int(np.count_nonzero(n < inp.n_candidates)),
            "dropped_short_queries": int(dropped)}


def require_some(rows: list, dropped: int, inp: TaskInputs) -> None:
    """Refuse (TaskNotBuilt, recorded in the manifest's omitted_tasks) a task whose every query was dropped for
    having too few candidates, with that reason rather than a bare "no queries"."""
    if not rows and dropped:
        raise TaskNotBuilt(f"all {dropped} queries have fewer than {min_candidates(inp)} candidates (too few view "
                           f"points or places near them in their split for n_candidates={inp.n_candidates}): build "
                           "a larger area or ask for fewer candidates")


_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str | None) -> set[str]:
    """Lower-cased \\w+ tokens: the words a keyword model (ugbench's bm25) matches on."""
    return set(_WORD.findall((text or "").lower()))


def mask_words(text: str, banned: set[str]) -> str:
    """`text` without the words in `banned` (whole \\w+ tokens, case-insensitive), spacing and punctuation
    tidied. Used so that a text query shares no word with its candidates' texts: otherwise a keyword model
    finds the answer by word overlap (street and place names) instead of understanding the scene."""
    out = _WORD.sub(lambda m: "" if m.group(0).lower() in banned else m.group(0), text)
    out = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", out))
    out = re.sub(r"([,;:])(\s*[,;:.])+", r"\1", out)
    return out.strip(" ,;:")


def cap_sample(df: pd.DataFrame, max_n: int, seed: int, by: str = "split") -> pd.DataFrame:
    """At most max_n rows per `by` value, seeded and order-stable."""
    parts = []
    for _, g in df.groupby(by, sort=True):
        parts.append(g.sample(n=min(len(g), max_n), random_state=seed).sort_index() if len(g) > max_n else g)
    return pd.concat(parts) if parts else df.iloc[:0]


def image_corpus(views: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "doc_id": views.image_id.to_numpy(),
        "text": None,
        "image_id": views.image_id.to_numpy(),
        "graph_context": views.graph_context.to_numpy(),
        "lat": views.lat.to_numpy(float),
        "lon": views.lon.to_numpy(float),
        "kind": "image",
        "split": views.split.to_numpy(),
        "fov_index": views.fov_index.to_numpy(np.int8),
    })


def queries_frame(rows: list[dict]) -> pd.DataFrame:
    """The queries table (ugdata.format.QUERY_COLUMNS, plus `query_mode`: image, text or fusion, which
    ugbench's query-mode tasks select on; None where a writer does not set it)."""
    cols = ["query_id", "split", "text", "image_id", "graph_context", "lat", "lon", "qtype", "candidate_ids",
            "positive_ids", "query_mode"]
    df = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    return df.sort_values("query_id", kind="stable").reset_index(drop=True)
