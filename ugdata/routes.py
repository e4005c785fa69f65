"""Street-network routes between view anchors, with turn-by-turn steps.

Shortest paths come from scipy.sparse.csgraph.dijkstra run once per distinct source street node (batched,
in chunks, with a distance limit), not from one networkx.shortest_path call per pair: the same answers,
well over 50x faster on a city (benchmarks/ugdata_build.py times both on the same pairs).

A route starts at the source view's snap point, runs along its anchored segment to one end, follows the
shortest path through the street graph, and ends along the destination's anchored segment at its snap
point; of the four end combinations the shortest is taken. Steps merge consecutive pieces on the same
street; a turn is straight within 30 degrees, slight/sharp otherwise, u-turn beyond 150.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from ugdata.captions import compass8
from ugdata.common.geo import EARTH_RADIUS_M
from ugdata.streets import StreetLayer


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Scalar initial bearing (same formula as ugdata.common.geo.bearing_deg, without numpy per call)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Scalar haversine metres (same radius as ugdata.common.geo.haversine_m)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def turn_word(prev_bearing: float, new_bearing: float) -> str:
    delta = (new_bearing - prev_bearing + 180.0) % 360.0 - 180.0
    if abs(delta) <= 30:
        return "straight"
    if abs(delta) >= 150:
        return "u-turn"
    return "right" if delta > 0 else "left"


def pick_route_pairs(points: pd.DataFrame, *, seed: int, per_point: int, min_m: float, max_m: float) -> pd.DataFrame:
    """points: one row per view point (image_id, lat, lon, split, city). For each point, `per_point`
    destinations of the same city and split between min_m and max_m away (straight line): a seeded random
    offset (uniform angle, distance in [min_m, max_m]) and the point nearest to its end, kept if in range."""
    from scipy.spatial import cKDTree

    from ugdata.splits import local_xy

    rng = np.random.default_rng(seed)
    out = []
    for (_city, _split), g in points.groupby(["city", "split"], sort=True):
        if len(g) < 2:
            continue
        xy = local_xy(g.lat, g.lon, float(g.lat.mean()), float(g.lon.mean()))
        tree = cKDTree(xy)
        for _ in range(per_point):
            found = np.full(len(g), -1)
            for _try in range(4):
                todo = np.flatnonzero(found < 0)
                if not len(todo):
                    break
                ang = rng.uniform(0, 2 * np.pi, len(todo))
                dist = rng.uniform(min_m, max_m, len(todo))
                target = xy[todo] + np.column_stack([np.sin(ang) * dist, np.cos(ang) * dist])
                _, j = tree.query(target, k=1)
                d = np.hypot(*(xy[j] - xy[todo]).T)
                ok = (d >= min_m) & (d <= max_m) & (j != todo)
                found[todo[ok]] = j[ok]
            src = np.flatnonzero(found >= 0)
            out.append(pd.DataFrame({"src": g.index.to_numpy()[src], "dst": g.index.to_numpy()[found[src]]}))
    if not out:
        return pd.DataFrame({"src": pd.Series([], dtype=np.int64), "dst": pd.Series([], dtype=np.int64)})
    pairs = pd.concat(out, ignore_index=True).drop_duplicates()
    return pairs.sort_values(["src", "dst"]).reset_index(drop=True)


def compute_routes(layer: StreetLayer, city: str, seg: np.ndarray, t_m: np.ndarray, lon, lat,
                   src_rows: np.ndarray, dst_rows: np.ndarray, limit_m: float, chunk: int = 256) -> list[dict | None]:
    """Routes for (src_rows[i], dst_rows[i]) view-point rows (indexes into seg/t_m/lon/lat).
    Returns one dict per pair (None where no path exists within limit_m)."""
    segs = layer.segs
    L = segs.length_m.to_numpy()
    U, V = segs.u_idx.to_numpy(), segs.v_idx.to_numpy()
    names = segs.name.tolist()
    L_l = L.tolist()
    nlon, nlat = layer.nodes.lon.to_numpy().tolist(), layer.nodes.lat.to_numpy().tolist()
    osm = layer.nodes.osmid.to_numpy()
    csg = layer.csgraph()
    # the segment (shortest) used between two adjacent nodes
    pair_seg = pd.DataFrame({"a": np.r_[U, V], "b": np.r_[V, U], "s": np.r_[np.arange(len(U)), np.arange(len(U))],
                             "l": np.r_[L, L]}).sort_values(["a", "b", "l", "s"]).drop_duplicates(["a", "b"])
    seg_of = dict(zip(zip(pair_seg.a.to_numpy().tolist(), pair_seg.b.to_numpy().tolist(), strict=True),
                      pair_seg.s.to_numpy().tolist(), strict=True))
    ss, ds = seg[src_rows], seg[dst_rows]
    ends_src = np.stack([U[ss], V[ss]], 1)
    off_src = np.stack([t_m[src_rows], L[ss] - t_m[src_rows]], 1)
    ends_dst = np.stack([U[ds], V[ds]], 1)
    off_dst = np.stack([t_m[dst_rows], L[ds] - t_m[dst_rows]], 1)
    results: list[dict | None] = [None] * len(src_rows)
    if not len(src_rows):
        return results
    # Chunk the routes (sorted by source segment) so one dijkstra call answers every route of the chunk
    # and its predecessor matrix is used right away (keeping rows across chunks would cost GBs).
    order = np.argsort(ss, kind="stable")
    end_pairs = ends_src[order]
    # chunk boundaries: consecutive routes until `chunk` distinct source nodes are reached
    bounds, seen, start = [], set(), 0
    for k, (a0, a1) in enumerate(end_pairs.tolist()):
        new = {a0, a1} - seen
        if len(seen) + len(new) > chunk and k > start:
            bounds.append((start, k))
            seen, start = set(), k
        seen |= {a0, a1}
    bounds.append((start, len(order)))
    lat_l, lon_l = np.asarray(lat, float), np.asarray(lon, float)
    for start, stop in bounds:
        rows = order[start:stop]
        sources, inv = np.unique(ends_src[rows].ravel(), return_inverse=True)
        r_src = inv.reshape(-1, 2)  # row of each route's two source ends in the dijkstra output
        dist, pred = dijkstra(csg, directed=False, indices=sources, return_predecessors=True, limit=limit_m)
        # all four end combinations of every route at once
        tot = np.stack([off_src[rows, e, None] + dist[r_src[:, e, None], ends_dst[rows]] + off_dst[rows]
                        for e in range(2)], axis=1).reshape(len(rows), 4)
        best_k = np.argmin(tot, axis=1)
        best = tot[np.arange(len(rows)), best_k]
        e_idx, f_idx = best_k // 2, best_k % 2
        same = ss[rows] == ds[rows]
        direct = np.where(same, np.abs(t_m[src_rows[rows]] - t_m[dst_rows[rows]]), np.inf)
        use_direct = same & (direct <= best)
        prow = r_src[np.arange(len(rows)), e_idx]
        a_node = ends_src[rows, e_idx]
        b_node = ends_dst[rows, f_idx]
        # walk all predecessor chains back together (vectorised), then read each route's nodes off the rows
        chains = [b_node]
        cur = b_node.copy()
        active = np.isfinite(best) & ~use_direct & (cur != a_node)
        while active.any():
            nxt = np.where(active, pred[prow, cur], cur)
            broken = active & (nxt < 0)
            active &= ~broken
            best[broken] = np.inf
            cur = np.where(active, nxt, cur)
            chains.append(np.where(active, cur, -1))
            active &= cur != a_node
        chain_arr = np.stack(chains, axis=1).tolist()
        for k, i in enumerate(rows.tolist()):
            si, di = int(src_rows[i]), int(dst_rows[i])
            if use_direct[k]:
                pieces = [(int(ss[i]), float(direct[k]), _bearing(lat_l[si], lon_l[si], lat_l[di], lon_l[di]))]
                node_path: list[int] = []
            elif not np.isfinite(best[k]):
                continue
            else:
                node_path = [x for x in chain_arr[k] if x >= 0][::-1]
                a, b = node_path[0], node_path[-1]
                pieces = [(int(ss[i]), float(off_src[i, e_idx[k]]), _bearing(lat_l[si], lon_l[si], nlat[a], nlon[a]))]
                for x, y in zip(node_path[:-1], node_path[1:], strict=True):
                    sg = seg_of[(x, y)]
                    pieces.append((sg, L_l[sg], _bearing(nlat[x], nlon[x], nlat[y], nlon[y])))
                pieces.append((int(ds[i]), float(off_dst[i, f_idx[k]]), _bearing(nlat[b], nlon[b], lat_l[di], lon_l[di])))
            results[i] = _steps(pieces, names, node_path, osm, city,
                                _haversine(lat_l[si], lon_l[si], lat_l[di], lon_l[di]))
    return results


def _steps(pieces, names, node_path, osm, city: str, crow_m: float) -> dict:
    """Merge route pieces (segment, length, bearing) into named steps with turns and compass headings."""
    kept = [p for p in pieces if p[1] > 0.05] or pieces[:1]
    steps: list[dict] = []
    last_bearing = 0.0
    for sg, length, bear in kept:
        street = str(names[sg])
        if steps and street and steps[-1]["street"] == street:
            steps[-1]["length_m"] += length
        else:
            turn = "start" if not steps else turn_word(last_bearing, bear)
            steps.append({"street": street, "length_m": length, "turn": turn, "compass": str(compass8(bear))})
        last_bearing = bear
    for st in steps:
        st["length_m"] = round(float(st["length_m"]), 2)
    total = round(sum(st["length_m"] for st in steps), 2)
    parts = []
    for k, st in enumerate(steps):
        street = st["street"] or "an unnamed street"
        ln = f"{round(st['length_m']):d} m"
        if k == 0:
            parts.append(f"Start on {street} heading {st['compass']} for {ln}")
        elif st["turn"] == "straight":
            parts.append(f"continue straight onto {street} heading {st['compass']} for {ln}")
        elif st["turn"] == "u-turn":
            parts.append(f"make a u-turn onto {street} heading {st['compass']} for {ln}")
        else:
            parts.append(f"turn {st['turn']} onto {street} heading {st['compass']} for {ln}")
    text = "; ".join(parts) + f"; arrive after {round(total):d} m ({round(crow_m):d} m as the crow flies)."
    return {"text": text, "steps": steps, "node_ids": [f"intersection/{city}/{int(osm[n])}" for n in node_path],
            "total_m": total}
