"""Spatial reasoning paths (SRP) from image nodes, as in the UGE paper.

Images are sampled per S2 cell (level 18, at most `per_cell` images per cell, chosen by a seeded hash);
from each sampled image we draw breadth-first walks of 1-3 hops over the graph (uniform neighbour choice
per hop, no revisits, never through another image), deduplicate, and keep at most `max_per_image`.
All walks of all images advance together as numpy arrays over a CSR adjacency, so 100k images cost
seconds, not minutes.

Text form (paper): `(src, rel, tgt) (50m, 180°(S)) -> (tgt, rel2, next) (437.7m, 342°(N)) -> ...`.
A hop that walks an edge against its stored direction uses the inverse relation name `<rel>_of`
(symmetric relations near / on_same_street / intersection keep their name).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ugcore.geo import bearing_deg, compass8, haversine_m

SYMMETRIC = {"near", "on_same_street", "intersection"}
S2_LEVEL = 18


def s2_cells(lat, lon, level: int = S2_LEVEL) -> np.ndarray:
    """S2 cell ids at `level`, vectorised with numpy: the same arithmetic as s2sphere's
    CellId.from_lat_lng(...).parent(level) (quadratic projection, Hilbert lookup table from s2sphere), which
    costs ~100 us per point in pure Python; tests check the two agree."""
    from s2sphere import sphere as S

    lat_r = np.radians(np.asarray(lat, dtype=np.float64))
    lon_r = np.radians(np.asarray(lon, dtype=np.float64))
    cp = np.cos(lat_r)
    p = np.stack([np.cos(lon_r) * cp, np.sin(lon_r) * cp, np.sin(lat_r)], axis=1)
    a = np.abs(p)
    face = np.where(a[:, 0] > a[:, 1], np.where(a[:, 0] > a[:, 2], 0, 2), np.where(a[:, 1] > a[:, 2], 1, 2))
    face = face + 3 * (p[np.arange(len(p)), face] < 0)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = {0: (y / x, z / x), 1: (-x / y, z / y), 2: (-x / z, -y / z),
              3: (z / x, y / x), 4: (z / y, -x / y), 5: (-y / z, -x / z)}
    u = np.select([face == f for f in range(6)], [uv[f][0] for f in range(6)])
    v = np.select([face == f for f in range(6)], [uv[f][1] for f in range(6)])

    def st(w):
        w = np.nan_to_num(w)  # the branch np.where does not take may see sqrt of a negative
        return np.where(w >= 0, 0.5 * np.sqrt(np.abs(1 + 3 * w)), 1 - 0.5 * np.sqrt(np.abs(1 - 3 * w)))

    max_size = 1 << 30
    i = np.clip(np.floor(max_size * st(u)), 0, max_size - 1).astype(np.uint64)
    j = np.clip(np.floor(max_size * st(v)), 0, max_size - 1).astype(np.uint64)
    lookup = np.array(S.LOOKUP_POS, dtype=np.uint64)
    f64 = face.astype(np.uint64)
    n = f64 << np.uint64(S.CellId.POS_BITS - 1)
    bits = f64 & np.uint64(S.SWAP_MASK)
    mask = np.uint64((1 << S.LOOKUP_BITS) - 1)
    for k in range(7, -1, -1):
        sh = np.uint64(k * S.LOOKUP_BITS)
        bits = bits + (((i >> sh) & mask) << np.uint64(S.LOOKUP_BITS + 2))
        bits = bits + (((j >> sh) & mask) << np.uint64(2))
        bits = lookup[bits.astype(np.int64)]
        n |= (bits >> np.uint64(2)) << np.uint64(k * 2 * S.LOOKUP_BITS)
        bits &= np.uint64(S.SWAP_MASK | S.INVERT_MASK)
    cid = n * np.uint64(2) + np.uint64(1)
    lsb = np.uint64(1 << (2 * (30 - level)))
    return (cid & (~lsb + np.uint64(1))) | lsb


def sample_per_cell(image_ids, lat, lon, per_cell: int, seed: int) -> np.ndarray:
    """Boolean mask: at most per_cell images per S2 level-18 cell (seeded, order-independent choice)."""
    cells = s2_cells(lat, lon)
    h = np.array([int.from_bytes(hashlib.blake2b(f"{seed}|{i}".encode(), digest_size=8).digest(), "big")
                  for i in image_ids], dtype=np.uint64)
    df = pd.DataFrame({"c": cells, "h": h, "i": np.arange(len(cells))}).sort_values(["c", "h"])
    rank = df.groupby("c").cumcount().to_numpy()
    mask = np.zeros(len(cells), dtype=bool)
    mask[df.i.to_numpy()[rank < per_cell]] = True
    return mask


def node_labels(nodes: pd.DataFrame) -> np.ndarray:
    name = nodes.name.to_numpy(dtype=object)
    cat = nodes.category.str.replace("_", " ").to_numpy(dtype=object)
    typ = nodes.type.to_numpy(dtype=object)
    out = np.where(name != "", name, "unnamed " + cat)
    img = typ == "image"
    out[img] = "image " + nodes.node_id.str.slice(6).to_numpy(dtype=object)[img]
    return out


def reasoning_paths(nodes: pd.DataFrame, edges: pd.DataFrame, start_idx: np.ndarray, *, seed: int,
                    max_per_image: int = 10, max_hops: int = 3, attempts: int = 24) -> pd.DataFrame:
    """Walks from the given image node indices. Returns one row per path (structured + text)."""
    walks, rel_names = sample_walks(nodes, edges, start_idx, seed=seed, max_per_image=max_per_image,
                                    max_hops=max_hops, attempts=attempts)
    return format_paths(walks, nodes, rel_names, max_hops)


def sample_walks(nodes: pd.DataFrame, edges: pd.DataFrame, start_idx: np.ndarray, *, seed: int,
                 max_per_image: int = 10, max_hops: int = 3, attempts: int = 24) -> tuple[pd.DataFrame, list[str]]:
    """The walks only (no text): columns n0..n{max_hops} (node rows, -1 after the walk ends), c0.. (relation
    codes; >= len(rel_names) = walked against the edge's direction), hops; sorted by start, at most
    max_per_image distinct walks per start. Returns (walks, rel_names)."""
    n = len(nodes)
    rel_names = sorted(edges.rel.unique())
    rel_code = {r: i for i, r in enumerate(rel_names)}
    is_image = (nodes.type == "image").to_numpy()
    s, d = edges.src_idx.to_numpy(), edges.dst_idx.to_numpy()
    r = edges.rel.map(rel_code).to_numpy()
    # adjacency in both directions; reverse traversals carry code + len(rel_names)
    a = np.r_[s, d]
    b = np.r_[d, s]
    code = np.r_[r, r + len(rel_names)]
    keep = ~is_image[b]  # never walk into an image
    a, b, code = a[keep], b[keep], code[keep]
    order = np.lexsort((b, a))
    a, b, code = a[order], b[order], code[order]
    indptr = np.r_[0, np.cumsum(np.bincount(a, minlength=n))]
    rng = np.random.default_rng(seed)
    starts = np.repeat(np.asarray(start_idx, dtype=np.int64), attempts)
    hops = rng.choice(np.arange(1, max_hops + 1), size=len(starts), p=_hop_probs(max_hops))
    path = np.full((len(starts), max_hops + 1), -1, dtype=np.int64)
    pcode = np.full((len(starts), max_hops), -1, dtype=np.int64)
    path[:, 0] = starts
    alive = np.ones(len(starts), dtype=bool)
    for h in range(max_hops):
        cur = path[:, h]
        deg = np.where(alive, indptr[np.clip(cur, 0, None) + 1] - indptr[np.clip(cur, 0, None)], 0)
        alive &= (deg > 0) & (h < hops)
        pick = indptr[np.clip(cur, 0, None)] + np.floor(rng.random(len(cur)) * np.maximum(deg, 1)).astype(np.int64)
        nxt = np.where(alive, b[np.minimum(pick, len(b) - 1)], -1)
        revisit = (path[:, : h + 1] == nxt[:, None]).any(1)
        alive &= ~revisit
        path[:, h + 1] = np.where(alive, nxt, -1)
        pcode[:, h] = np.where(alive, code[np.minimum(pick, len(code) - 1)], -1)
    nh = (path[:, 1:] >= 0).sum(1)
    ok = nh > 0
    df = pd.DataFrame(path[ok], columns=[f"n{i}" for i in range(max_hops + 1)])
    for i in range(max_hops):
        df[f"c{i}"] = pcode[ok, i]
    df["hops"] = nh[ok]
    df["attempt"] = np.flatnonzero(ok)
    df = df.drop_duplicates([f"n{i}" for i in range(max_hops + 1)] + [f"c{i}" for i in range(max_hops)])
    df["rank"] = df.groupby("n0").cumcount()
    df = df[df["rank"] < max_per_image].sort_values(["n0", "rank"], kind="stable").reset_index(drop=True)
    return df, rel_names


def _hop_probs(max_hops: int) -> list[float]:
    w = np.arange(1, max_hops + 1, dtype=float)
    return list(w / w.sum())


def format_paths(df: pd.DataFrame, nodes: pd.DataFrame, rel_names: list[str], max_hops: int = 3) -> pd.DataFrame:
    """Text and structured columns for the sampled walks. Distances, bearings and compass words are numpy
    over all paths per hop; the list columns are built by pyarrow from flat arrays + offsets (C, no
    per-path Python lists); only the text runs in Python: one f-string per hop, joined with numpy
    object-array additions (a C loop over Python strings)."""
    import pyarrow as pa

    lab = node_labels(nodes)
    nid = nodes.node_id.to_numpy(dtype=object)
    lon, lat = nodes.lon.to_numpy(), nodes.lat.to_numpy()
    nr = len(rel_names)
    rel_txt = np.array(rel_names + [x if x in SYMMETRIC else f"{x}_of" for x in rel_names], dtype=object)
    n = len(df)
    P = df[[f"n{h}" for h in range(max_hops + 1)]].to_numpy()
    C = df[[f"c{h}" for h in range(max_hops)]].to_numpy()
    live = P[:, 1:] >= 0  # a prefix per row (walks stop, never resume)
    si, di = np.clip(P[:, :-1], 0, None), np.clip(P[:, 1:], 0, None)
    D = haversine_m(lat[si], lon[si], lat[di], lon[di])
    B = bearing_deg(lat[si], lon[si], lat[di], lon[di])
    R = rel_txt[np.clip(C, 0, 2 * nr - 1)]
    total = np.where(live, D, 0.0).sum(1)
    texts = np.full(n, "", dtype=object)
    for h in range(max_hops):
        rows = np.flatnonzero(live[:, h])
        if not len(rows):
            continue
        sep = "" if h == 0 else " -> "
        piece = np.array([f"{sep}({a}, {r}, {b}) ({x:.1f}m, {bb % 360:.0f}°({c}))" for a, r, b, x, bb, c in zip(
            lab[si[rows, h]].tolist(), R[rows, h].tolist(), lab[di[rows, h]].tolist(), D[rows, h].tolist(),
            B[rows, h].tolist(), compass8(B[rows, h]).tolist(), strict=True)], dtype=object)
        texts[rows] = piece if h == 0 else texts[rows] + piece
    hops = live.sum(1)
    off = pa.array(np.r_[0, np.cumsum(hops)].astype(np.int32))
    off_n = pa.array(np.r_[0, np.cumsum(hops + 1)].astype(np.int32))
    with_start = np.c_[np.ones(n, bool), live]

    def lists(off_arr, values) -> pd.Series:
        return pd.Series(pa.ListArray.from_arrays(off_arr, values).to_pandas(), dtype=object)

    return pd.DataFrame({
        "start": df.n0.to_numpy(),
        "text": texts,
        "node_ids": lists(off_n, pa.array(nid[P[with_start]], type=pa.string())),
        "rels": lists(off, pa.array(R[live], type=pa.string())),
        "distances_m": lists(off, pa.array(D[live], type=pa.float64())),
        "bearings_deg": lists(off, pa.array(B[live], type=pa.float64())),
        "total_m": total,
        "hops": hops.astype(np.int64),
    })
