"""Shared inputs and helpers for task writers: spatially near hard negatives, capped query samples."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ugdata.format import TaskSpec
from ugdata.splits import local_xy

EVAL_SPLITS = ("val", "test")


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
    cols = ["query_id", "split", "text", "image_id", "graph_context", "lat", "lon", "qtype", "candidate_ids",
            "positive_ids"]
    df = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    return df.sort_values("query_id", kind="stable").reset_index(drop=True)
