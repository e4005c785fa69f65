"""Street-network routes between view anchors, with turn-by-turn steps.

Route FINDING (find_routes) is batched: route pairs are grouped by source (pick_route_pairs_grouped gives
each sampled source many destinations in a distance band), one scipy.sparse.csgraph.dijkstra call (C, with
a distance limit) answers a whole chunk of sources, and the predecessor chains of all routes are walked
back together, hop by hop, as numpy arrays. FORMATTING (format_routes: street runs, turns, compass, text)
is vectorised over route pieces with numpy; only the final string assembly loops in Python.
benchmarks/ugdata_build.py times finding against a per-pair networkx.shortest_path loop on the same pairs.

A route starts at the source view's snap point, runs along its anchored segment to one end, follows the
shortest path through the street graph, and ends along the destination's anchored segment at its snap
point. The source point is a virtual node with outgoing edges only (to its segment's two ends, weighted by
the distance along the segment), so one shortest-path tree covers both ways out and the shortest of the
four end combinations falls out of it. Steps merge consecutive pieces on the same street; a turn is
straight within 30 degrees, left/right otherwise, u-turn beyond 150.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from ugcore.geo import bearing_deg, compass8, haversine_m
from ugdata.streets import StreetLayer


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


def pick_route_pairs_grouped(points: pd.DataFrame, *, seed: int, n_sources: int, per_source: int, min_m: float,
                             max_m: float) -> pd.DataFrame:
    """points as in pick_route_pairs. About n_sources sources (seeded, spread over the (city, split) groups
    in proportion to their size), each with up to per_source destinations of the same city and split between
    min_m and max_m away (straight line), drawn without replacement. Grouping many routes per source lets one
    shortest-path tree answer all of them."""
    from scipy.spatial import cKDTree

    from ugdata.splits import local_xy

    rng = np.random.default_rng(seed)
    out = []
    n_all = len(points)
    for (_city, _split), g in points.groupby(["city", "split"], sort=True):
        if len(g) < 2:
            continue
        k = min(len(g), max(1, int(round(n_sources * len(g) / max(n_all, 1)))))
        xy = local_xy(g.lat, g.lon, float(g.lat.mean()), float(g.lon.mean()))
        tree = cKDTree(xy)
        src = np.sort(rng.choice(len(g), size=k, replace=False))
        idx = g.index.to_numpy()
        for s, cand in zip(src.tolist(), tree.query_ball_point(xy[src], r=max_m, return_sorted=True), strict=True):
            cand = np.asarray(cand, dtype=np.int64)
            d = np.hypot(*(xy[cand] - xy[s]).T) if len(cand) else np.zeros(0)
            cand = cand[(d >= min_m) & (cand != s)]
            if not len(cand):
                continue
            dst = np.sort(rng.choice(cand, size=min(per_source, len(cand)), replace=False))
            out.append(pd.DataFrame({"src": np.full(len(dst), idx[s]), "dst": idx[dst]}))
    if not out:
        return pd.DataFrame({"src": pd.Series([], dtype=np.int64), "dst": pd.Series([], dtype=np.int64)})
    return pd.concat(out, ignore_index=True).sort_values(["src", "dst"]).reset_index(drop=True)


@dataclass
class RoutePaths:
    """Structured result of find_routes, one entry per requested pair (arrays of length n_pairs), node
    sequences as CSR (offsets, nodes): the street-node path of pair i is nodes[offsets[i]:offsets[i+1]]."""

    found: np.ndarray  # bool: a route exists within the distance limit
    direct: np.ndarray  # bool: both points on one segment, the route runs along it (no street nodes)
    total_m: np.ndarray  # route length, point to point (inf where not found)
    e_src: np.ndarray  # end of the source segment the route leaves by (0 = u, 1 = v)
    f_dst: np.ndarray  # end of the destination segment it arrives by
    offsets: np.ndarray
    nodes: np.ndarray

    def node_path(self, i: int) -> np.ndarray:
        return self.nodes[self.offsets[i]: self.offsets[i + 1]]


def _walk_back(pred: np.ndarray, prow: np.ndarray, end: np.ndarray, n_real: int) -> tuple[np.ndarray, np.ndarray]:
    """All predecessor chains at once: from end[i] (-1: none) back through pred[prow[i]] until the virtual
    source (index >= n_real). Returns (lens, flat) with each chain source-end first. One numpy step per hop
    of the longest route over the routes still walking, not one Python step per node of every route."""
    m = len(end)
    idx = np.flatnonzero(end >= 0)
    cur, pr = end[idx], prow[idx]
    rows, nodes, hop = [idx], [cur], [np.zeros(len(idx), np.int64)]
    h = 0
    while len(idx):
        h += 1
        nxt = pred[pr, cur]
        ok = (nxt >= 0) & (nxt < n_real)
        idx, cur, pr = idx[ok], nxt[ok].astype(np.int64), pr[ok]
        rows.append(idx)
        nodes.append(cur)
        hop.append(np.full(len(idx), h, np.int64))
    r, v, k = np.concatenate(rows), np.concatenate(nodes), np.concatenate(hop)
    lens = np.bincount(r, minlength=m)
    offsets = np.r_[0, np.cumsum(lens)]
    flat = np.empty(len(v), np.int64)
    flat[offsets[r] + lens[r] - 1 - k] = v  # hop 0 is the destination end: it goes last
    return lens, flat


def find_routes(layer: StreetLayer, seg: np.ndarray, t_m: np.ndarray, src_rows: np.ndarray, dst_rows: np.ndarray,
                limit_m: float, chunk: int = 256, first_limit_m: float | None = None) -> RoutePaths:
    """Shortest street routes for (src_rows[i], dst_rows[i]) view-point rows (indexes into seg/t_m), point to
    point; a pair whose route is longer than limit_m counts as not found (the search stops there).

    first_limit_m (< limit_m): search to that distance first (the cost of a search grows with the area it
    covers) and again to limit_m only for the pairs not found. Exact: distances below a search's limit are
    final, so a route found in the first pass is the shortest one."""
    if first_limit_m is not None and first_limit_m < limit_m:
        rp = find_routes(layer, seg, t_m, src_rows, dst_rows, first_limit_m, chunk)
        miss = np.flatnonzero(~rp.found)
        if not len(miss):
            return rp
        rp2 = find_routes(layer, seg, t_m, np.asarray(src_rows)[miss], np.asarray(dst_rows)[miss], limit_m, chunk)
        return _merge(rp, miss, rp2)
    from scipy.sparse import coo_matrix

    segs = layer.segs
    L = segs.length_m.to_numpy(float)
    U, V = segs.u_idx.to_numpy(np.int64), segs.v_idx.to_numpy(np.int64)
    n = len(layer.nodes)
    # the street graph as COO, shortest of parallel segments per node pair (numpy: no pandas groupby)
    ea, eb = np.r_[U, V], np.r_[V, U]
    ew = np.maximum(np.r_[L, L], 0.01)
    o = np.lexsort((ew, eb, ea))
    o = o[ea[o] != eb[o]]
    o = o[np.r_[True, (ea[o][1:] != ea[o][:-1]) | (eb[o][1:] != eb[o][:-1])]]
    base_r, base_c, base_w = ea[o], eb[o], ew[o]
    src_rows, dst_rows = np.asarray(src_rows, np.int64), np.asarray(dst_rows, np.int64)
    m = len(src_rows)
    t_m = np.asarray(t_m, float)
    ss, ds = seg[src_rows], seg[dst_rows]
    found = np.zeros(m, bool)
    total = np.full(m, np.inf)
    e_src = np.zeros(m, np.int64)
    f_dst = np.zeros(m, np.int64)
    direct = np.zeros(m, bool)
    lens_all = np.zeros(m, np.int64)
    same = ss == ds
    direct_len = np.where(same, np.abs(t_m[src_rows] - t_m[dst_rows]), np.inf)
    pieces_idx, pieces_flat = [], []
    if m:
        usrc, inv = np.unique(src_rows, return_inverse=True)
        chunk_of = inv // chunk
        order = np.argsort(chunk_of, kind="stable")
        bounds = np.r_[0, np.flatnonzero(np.diff(chunk_of[order])) + 1, m]
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            rows = order[a:b]
            srcs, vrow = np.unique(src_rows[rows], return_inverse=True)
            k = len(srcs)
            sg = seg[srcs]
            w_u = np.maximum(t_m[srcs], 1e-6)
            w_v = np.maximum(L[sg] - t_m[srcs], 1e-6)
            loop = U[sg] == V[sg]  # a loop segment: one edge to its single end (csr would sum duplicates)
            w_u = np.where(loop, np.minimum(w_u, w_v), w_u)
            vr = np.r_[np.arange(k), np.arange(k)[~loop]] + n
            vc = np.r_[U[sg], V[sg][~loop]]
            vw = np.r_[w_u, w_v[~loop]]
            aug = coo_matrix((np.r_[base_w, vw], (np.r_[base_r, vr], np.r_[base_c, vc])),
                             shape=(n + k, n + k)).tocsr()
            # limit_m bounds the whole route from the source point (the search cost grows with its area)
            dist, pred = dijkstra(aug, directed=True, indices=n + np.arange(k), return_predecessors=True,
                                  limit=limit_m)
            d_seg = ds[rows]
            tdst = t_m[dst_rows[rows]]
            via_u = dist[vrow, U[d_seg]] + tdst
            via_v = dist[vrow, V[d_seg]] + (L[d_seg] - tdst)
            f = (via_v < via_u).astype(np.int64)
            best = np.minimum(via_u, via_v)
            best[best > limit_m] = np.inf  # limit_m bounds the whole route, point to point
            use_direct = same[rows] & (direct_len[rows] <= best) & (direct_len[rows] <= limit_m)
            ok = np.isfinite(best) & ~use_direct
            end = np.where(ok, np.where(f == 1, V[d_seg], U[d_seg]), -1)
            lens, flat = _walk_back(pred, vrow, end, n)
            starts = np.minimum(np.r_[0, np.cumsum(lens)[:-1]], max(len(flat) - 1, 0))
            first = np.where(lens > 0, flat[starts] if len(flat) else -1, -1)
            e = np.where((lens > 0) & (first == V[ss[rows]]) & (first != U[ss[rows]]), 1, 0)
            found[rows] = ok | use_direct
            direct[rows] = use_direct
            total[rows] = np.where(use_direct, direct_len[rows], best)
            e_src[rows], f_dst[rows] = e, f
            lens_all[rows] = lens
            pieces_idx.append(rows)
            pieces_flat.append((lens, flat))
    offsets = np.r_[0, np.cumsum(lens_all)]
    nodes = np.zeros(int(offsets[-1]), np.int64)
    for rows, (lens, flat) in zip(pieces_idx, pieces_flat, strict=True):
        dst_start = np.repeat(offsets[rows], lens)
        src_start = np.repeat(np.r_[0, np.cumsum(lens)[:-1]], lens)
        nodes[dst_start + np.arange(len(flat)) - src_start] = flat
    return RoutePaths(found, direct, total, e_src, f_dst, offsets, nodes)


def _merge(rp: RoutePaths, idx: np.ndarray, sub: RoutePaths) -> RoutePaths:
    """rp with the pairs at idx replaced by sub's results (in idx order)."""
    lens = np.diff(rp.offsets)
    lens_sub = np.diff(sub.offsets)
    keep = np.ones(len(lens), bool)
    keep[idx] = False
    new_lens = lens.copy()
    new_lens[idx] = lens_sub
    offsets = np.r_[0, np.cumsum(new_lens)]
    nodes = np.zeros(int(offsets[-1]), np.int64)
    old_rows = np.flatnonzero(keep)
    for rows, src_off, src_nodes, ln in ((old_rows, rp.offsets, rp.nodes, lens[old_rows]),
                                         (idx, np.r_[sub.offsets[:-1]], sub.nodes, lens_sub)):
        src_start = src_off[rows] if src_nodes is rp.nodes else src_off
        pos = np.arange(int(ln.sum())) - np.repeat(np.r_[0, np.cumsum(ln)[:-1]], ln)
        nodes[np.repeat(offsets[rows], ln) + pos] = src_nodes[np.repeat(src_start, ln) + pos]
    out = RoutePaths(rp.found.copy(), rp.direct.copy(), rp.total_m.copy(), rp.e_src.copy(), rp.f_dst.copy(),
                     offsets, nodes)
    for name in ("found", "direct", "total_m", "e_src", "f_dst"):
        getattr(out, name)[idx] = getattr(sub, name)
    return out


def _turn_words(prev: np.ndarray, new: np.ndarray) -> np.ndarray:
    delta = (new - prev + 180.0) % 360.0 - 180.0
    return np.where(np.abs(delta) <= 30, "straight",
                    np.where(np.abs(delta) >= 150, "u-turn", np.where(delta > 0, "right", "left")))


def format_routes(layer: StreetLayer, city: str, rp: RoutePaths, seg: np.ndarray, t_m: np.ndarray, lon, lat,
                  src_rows: np.ndarray, dst_rows: np.ndarray) -> list[dict | None]:
    """Turn-by-turn steps and text for find_routes' result (None where no route was found). Pieces (the two
    partial segments at the ends plus one piece per street segment) are built for all routes at once;
    street runs, turns and compass directions come from numpy over the pieces, grouped by route."""
    segs = layer.segs
    L = segs.length_m.to_numpy(float)
    U, V = segs.u_idx.to_numpy(np.int64), segs.v_idx.to_numpy(np.int64)
    n = len(layer.nodes)
    nlat, nlon = layer.nodes.lat.to_numpy(float), layer.nodes.lon.to_numpy(float)
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    t_m = np.asarray(t_m, float)
    src_rows, dst_rows = np.asarray(src_rows, np.int64), np.asarray(dst_rows, np.int64)
    m = len(src_rows)
    results: list[dict | None] = [None] * m
    if not rp.found.any():
        return results
    ss, ds = seg[src_rows], seg[dst_rows]
    # the segment (shortest, then lowest index) used between two adjacent nodes, looked up by key a*n+b
    key = np.r_[U * n + V, V * n + U]
    order = np.lexsort((np.r_[np.arange(len(U)), np.arange(len(U))], np.r_[L, L], key))
    key_s, seg_s = key[order], np.r_[np.arange(len(U)), np.arange(len(U))][order]
    first_of = np.r_[True, key_s[1:] != key_s[:-1]]
    key_s, seg_s = key_s[first_of], seg_s[first_of]

    lens = np.diff(rp.offsets)
    routed = np.flatnonzero(rp.found & ~rp.direct)
    direct = np.flatnonzero(rp.direct)
    # pieces as (route, position, segment, length, from lat/lon, to lat/lon)
    a_node = rp.nodes[rp.offsets[routed]]
    b_node = rp.nodes[rp.offsets[routed + 1] - 1]
    off_src = np.where(rp.e_src[routed] == 1, L[ss[routed]] - t_m[src_rows[routed]], t_m[src_rows[routed]])
    off_dst = np.where(rp.f_dst[routed] == 1, L[ds[routed]] - t_m[dst_rows[routed]], t_m[dst_rows[routed]])
    hop_route = np.repeat(routed, lens[routed] - 1)
    starts = np.repeat(rp.offsets[routed], lens[routed] - 1)
    hop_pos = np.arange(len(hop_route)) - np.repeat(np.r_[0, np.cumsum(lens[routed] - 1)[:-1]], lens[routed] - 1)
    x = rp.nodes[starts + hop_pos]
    y = rp.nodes[starts + hop_pos + 1]
    hop_seg = seg_s[np.searchsorted(key_s, x * n + y)]
    sr, dr = src_rows, dst_rows
    route = np.r_[routed, hop_route, routed, direct]
    pos = np.r_[np.zeros(len(routed), np.int64), hop_pos + 1, lens[routed], np.zeros(len(direct), np.int64)]
    pseg = np.r_[ss[routed], hop_seg, ds[routed], ss[direct]]
    plen = np.r_[off_src, L[hop_seg], off_dst, np.abs(t_m[sr[direct]] - t_m[dr[direct]])]
    lat1 = np.r_[lat[sr[routed]], nlat[x], nlat[b_node], lat[sr[direct]]]
    lon1 = np.r_[lon[sr[routed]], nlon[x], nlon[b_node], lon[sr[direct]]]
    lat2 = np.r_[nlat[a_node], nlat[y], lat[dr[routed]], lat[dr[direct]]]
    lon2 = np.r_[nlon[a_node], nlon[y], lon[dr[routed]], lon[dr[direct]]]
    o = np.lexsort((pos, route))
    route, pos, pseg, plen = route[o], pos[o], pseg[o], plen[o]
    bear = bearing_deg(lat1[o], lon1[o], lat2[o], lon2[o])
    # drop pieces shorter than 5 cm, except a route's first piece when nothing else is left
    kept = plen > 0.05
    any_kept = np.zeros(m, bool)
    any_kept[route[kept]] = True
    keep = kept | ((pos == 0) & ~any_kept[route])
    route, pseg, plen, bear = route[keep], pseg[keep], plen[keep], bear[keep]
    # street runs: a new step where the route starts, the street is unnamed, or the name changes
    codes, names = pd.factorize(segs.name.to_numpy(dtype=object)[pseg])
    unnamed = np.asarray(names, dtype=object)[codes] == "" if len(names) else np.zeros(len(codes), bool)
    new_route = np.r_[True, route[1:] != route[:-1]]
    new_step = new_route | unnamed | np.r_[True, codes[1:] != codes[:-1]]
    step_id = np.cumsum(new_step) - 1
    first = np.flatnonzero(new_step)
    step_len = np.bincount(step_id, weights=plen)  # sequential sums, piece order
    step_route = route[first]
    step_street = segs.name.to_numpy(dtype=object)[pseg[first]]
    step_compass = compass8(bear[first])
    step_turn = np.where(new_route[first], "start", _turn_words(bear[np.maximum(first - 1, 0)], bear[first]))
    crow = haversine_m(lat[sr], lon[sr], lat[dr], lon[dr])
    node_str = np.array([f"intersection/{city}/{int(o)}" for o in layer.nodes.osmid.to_numpy()], dtype=object)
    bounds = np.r_[np.flatnonzero(np.r_[True, step_route[1:] != step_route[:-1]]), len(step_route)]
    st_l = [round(float(v), 2) for v in step_len.tolist()]
    st_s, st_c, st_t = [str(s) for s in step_street.tolist()], step_compass.tolist(), step_turn.tolist()
    offs = rp.offsets.tolist()
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        i = int(step_route[a])
        steps = [{"street": st_s[k], "length_m": st_l[k], "turn": st_t[k], "compass": st_c[k]} for k in range(a, b)]
        results[i] = _route_record(steps, node_str[rp.nodes[offs[i]: offs[i + 1]]].tolist(), float(crow[i]))
    return results


def compute_routes(layer: StreetLayer, city: str, seg: np.ndarray, t_m: np.ndarray, lon, lat,
                   src_rows: np.ndarray, dst_rows: np.ndarray, limit_m: float, chunk: int = 256) -> list[dict | None]:
    """Routes for (src_rows[i], dst_rows[i]) view-point rows (indexes into seg/t_m/lon/lat): find_routes then
    format_routes. Returns one dict per pair (None where no path exists within limit_m)."""
    rp = find_routes(layer, seg, t_m, src_rows, dst_rows, limit_m, chunk=chunk)
    return format_routes(layer, city, rp, seg, t_m, lon, lat, src_rows, dst_rows)


def _route_record(steps: list[dict], node_ids: list[str], crow_m: float) -> dict:
    """Text of merged steps (street, length_m, turn, compass) plus the structured record."""
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
    return {"text": text, "steps": steps, "node_ids": node_ids, "total_m": total}
