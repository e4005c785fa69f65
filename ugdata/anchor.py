"""Anchor view points to their nearest street segment (metric projection, shapely STRtree).

For each point: snap distance, the segment (street name and class), the street bearing at the snap point,
the camera heading relative to the street, and the side of the street (w.r.t. the segment direction u->v).
Points farther than `max_snap_m` from every street are returned as rejects with their distance, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from ugdata.streets import StreetLayer


@dataclass
class Anchors:
    """Per-point anchoring, aligned with the input arrays."""

    seg: np.ndarray  # int64 segment row
    snap_m: np.ndarray  # float
    t_m: np.ndarray  # metres along the segment from its u end
    street_bearing: np.ndarray  # deg, direction u->v at the snap point
    side: np.ndarray  # 'left' | 'right'
    x: np.ndarray  # metric coordinates of the point
    y: np.ndarray
    ok: np.ndarray  # bool: within max_snap_m


def anchor_points(layer: StreetLayer, lon, lat, max_snap_m: float) -> Anchors:
    x, y = layer.project(lon, lat)
    pts = shapely.points(x, y)
    # query_nearest returns (input index, tree index); ties give several rows: keep the first per input
    (inp, seg), dist = layer.tree.query_nearest(pts, return_distance=True, all_matches=False)
    order = np.argsort(inp, kind="stable")
    inp, seg, dist = inp[order], seg[order], dist[order]
    first = np.r_[True, inp[1:] != inp[:-1]]
    inp, seg, dist = inp[first], seg[first], dist[first]
    n = len(pts)
    seg_full = np.zeros(n, dtype=np.int64)
    seg_full[inp] = seg
    d_full = np.full(n, np.inf)
    d_full[inp] = dist
    lines = layer.geom_m[seg_full]
    t = shapely.line_locate_point(lines, pts)
    length = shapely.length(lines)
    a = shapely.line_interpolate_point(lines, np.clip(t - 1.0, 0, length))
    b = shapely.line_interpolate_point(lines, np.clip(t + 1.0, 0, length))
    dx = shapely.get_x(b) - shapely.get_x(a)
    dy = shapely.get_y(b) - shapely.get_y(a)
    bearing = (np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0
    snap = shapely.line_interpolate_point(lines, t)
    px = x - shapely.get_x(snap)
    py = y - shapely.get_y(snap)
    cross = dx * py - dy * px  # > 0: the point lies to the left of the direction of travel u->v
    side = np.where(cross > 0, "left", "right")
    return Anchors(seg=seg_full, snap_m=d_full, t_m=t, street_bearing=bearing, side=side, x=x, y=y,
                   ok=d_full <= max_snap_m)


def relative_heading(heading, street_bearing) -> np.ndarray:
    """Camera heading minus street bearing in [0, 360); NaN where the heading is unknown."""
    return (np.asarray(heading, dtype=float) - np.asarray(street_bearing, dtype=float)) % 360.0


def fov_index_from_relative(rel) -> np.ndarray:
    """0 front (along u->v), 1 right, 2 back, 3 left; -1 when the heading is unknown."""
    rel = np.asarray(rel, dtype=float)
    idx = np.floor(((rel % 360.0) + 45.0) / 90.0) % 4
    return np.where(np.isfinite(rel), idx, -1).astype(np.int8)


def sample_street_points(layer: StreetLayer, n_points: int, seed: int) -> pd.DataFrame:
    """n_points locations along the street network, length-weighted, seeded.

    A point sits on the right-hand driving lane (a quarter of the carriageway from the centreline), so its
    side of the street is defined and synthetic cameras stand where a street-view car would.
    """
    rng = np.random.default_rng(seed)
    L = layer.segs["length_m"].to_numpy()
    if n_points <= 0 or L.sum() <= 0:
        return pd.DataFrame(columns=["point", "lon", "lat", "seg"])
    seg = rng.choice(len(L), size=n_points, p=L / L.sum())
    frac = rng.uniform(0.1, 0.9, size=n_points)
    lines = layer.geom_m[seg]
    t = frac * L[seg]
    a = shapely.line_interpolate_point(lines, np.maximum(t - 1.0, 0))
    b = shapely.line_interpolate_point(lines, np.minimum(t + 1.0, L[seg]))
    dx = shapely.get_x(b) - shapely.get_x(a)
    dy = shapely.get_y(b) - shapely.get_y(a)
    norm = np.maximum(np.hypot(dx, dy), 1e-9)
    off = layer.segs["width_m"].to_numpy()[seg] / 4.0
    p = shapely.line_interpolate_point(lines, t)
    # right-hand normal of (dx, dy) is (dy, -dx)
    x = shapely.get_x(p) + off * dy / norm
    y = shapely.get_y(p) - off * dx / norm
    lon, lat = layer.unproject(x, y)
    return pd.DataFrame({"point": np.arange(n_points), "lon": lon, "lat": lat, "seg": seg})
