"""The project's own exact engine: spatial-semantic co-clusters, a low-dimensional first pass with exact
bounds, and an exact re-check.

Build. Spherical k-means (faiss) groups the objects by direction; each semantic group is then cut into
spatially compact leaves of ~`leaf_size` objects by Sort-Tile-Recursive packing. Rows are stored cluster by
cluster (contiguous blocks). B = the top `prefix_dims` principal directions of the vectors (orthonormal
columns); per object we keep its prefix p_v = B^T v (float32) and residual norm r_v = |v - B p_v|.

Bounds (|q| = |v| = 1; q~ = B^T q, q_r = |q - B q~| = sqrt(1 - |q~|^2)):
    q . v = q~ . p_v + (q - B q~) . (v - B p_v) <= q~ . p_v + q_r * r_v                (Cauchy-Schwarz)
  per object (stage 1, reads m floats instead of dim), and per cluster P, with c_P the unit mean direction
  of its members' prefixes and theta_P the largest angle between a member's prefix and c_P:
    q~ . p_v <= |q~| |p_v| cos(max(0, angle(q~, c_P) - theta_P))          (triangle inequality on angles)
  so Sim <= |q~| * (max or min |p_v| by the sign of the cosine) * that cosine + q_r * max r_v.
    Dst(Q, o) <= 1 - mindist(Q, box(P)) / d_max(Q, O)
    F(Q, o)   <= UB(P) = mu * Dst_ub + (1 - mu) * Sim_ub   (+ SCREEN_MARGIN for float rounding)

Query. UB for every cluster (a P x m GEMV), clusters visited by decreasing UB; for a visited cluster, the
stage-1 bound with the object's own distance discards most members; the survivors get the full float32
inner product. The scan stops when the k-th best screened score exceeds the next cluster's UB: no unvisited
object can enter the top-k. Candidates within SCREEN_MARGIN of the k-th are re-scored in float64
(scoring.exact_scores), so the result equals brute force exactly, ties included.

Query-time engineering (measured at 465k x 768, see docs/search.md). Two implementations of the same
bounds: the default compiled one (kernels.py, numba) computes every cluster bound in one loop, pops
clusters from a heap in bound order and takes each object through its cheapest test first (distance with
the cluster's Sim bound, prefix bound, int8 bound, full inner product); the numpy one (`impl="numpy"`, the
fallback without numba) scans clusters in batches (one prefix gather + GEMV per batch) on one BLAS thread.
The compiled path adds a per-object int8 stage: q . v <= s (q . c) + |v - s c| (quantize_int8) leaves
~0.01 of slack where the prefix bound leaves ~0.3, so only a few dozen full vectors are read.

Why this shape: the per-object noise of real embeddings is spread over all dimensions, so any bound built
from a compact summary of a cluster (centroid + radius, per-dimension boxes, signatures) is loose by about
the noise norm; the leading principal directions hold most of the signal and little of the noise, which
makes the prefix caps tight and lets stage 1 discard objects after reading 1/12 of their bytes.

Approximate mode (`slack > 0`): clusters (compiled path; clusters and objects in the numpy path) are
dropped when their bound is below the k-th best + slack. Every object left out then has F <= (returned k-th score) + slack, a guarantee on the score
rather than on recall; recall is measured in benchmarks/geo_knn.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ugcore.geo import EARTH_RADIUS_M

from .scoring import SCREEN_MARGIN, GeoSpace, embed, exact_scores, rank_topk, str_tiles


@dataclass
class CoClusters:
    order: np.ndarray  # (n,) original row of each stored position
    start: np.ndarray  # (P + 1,) cluster offsets into the stored order
    lo: np.ndarray  # (P, e) cluster boxes in embedding space
    hi: np.ndarray
    centroids: np.ndarray  # (P, m) float32 unit mean direction of the members' prefixes
    cos_t: np.ndarray  # (P,) cos of the prefix-space cap angle (minus a rounding margin)
    sin_t: np.ndarray
    pmax: np.ndarray  # (P,) max / min prefix norm |B^T v| of the members
    pmin: np.ndarray
    rmax: np.ndarray  # (P,) max residual norm of the members
    basis: np.ndarray  # (dim, m) float64 principal directions (orthonormal columns)
    prefix: np.ndarray  # (n, m) float32 B^T v per stored object
    resid: np.ndarray  # (n,) float32 upper bound of |v - B B^T v| per stored object
    # int8 codes of the full vectors (quantize_int8); None in indexes built before they existed
    codes: np.ndarray | None = None  # (n, dim) int8
    cscale: np.ndarray | None = None  # (n,) float64 per-row scale
    cerr: np.ndarray | None = None  # (n,) float64 upper bound of |v - scale * code|

    @property
    def n_clusters(self) -> int:
        return len(self.start) - 1

    def arrays(self) -> dict[str, np.ndarray]:
        # not the query-time caches; not the optional parts an old index lacks
        return {f"cc_{f.name}": getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_arrays(cls, arrays) -> CoClusters:
        return cls(**{k[3:]: np.asarray(arrays[k]) for k in arrays if k.startswith("cc_")})


def quantize_int8(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row symmetric int8 codes: v ~ scale * code, with err >= |v - scale * code| (float64, rounded up).

    Why: q . v <= scale * (q . code) + |q| * err (Cauchy-Schwarz on the error), and err is ~0.01 for a
    unit 768-d vector, against ~0.3 for the prefix bound's residual term; reading a code costs a quarter of
    the float32 vector. So nearly every object that passes the prefix bound but cannot reach the top-k is
    dropped by its code, and only a handful of full vectors are read.
    """
    if _have_numba():
        from .kernels import quantize_rows

        return quantize_rows(np.ascontiguousarray(v))
    n = len(v)  # pragma: no cover - the same in numpy, chunked (a float64 copy of 465k x 768 is 2.9 GB)
    codes = np.empty(v.shape, dtype=np.int8)
    scale = np.empty(n)
    err = np.empty(n)
    for s0 in range(0, n, 65536):
        blk = v[s0 : s0 + 65536].astype(np.float64)
        amax = np.abs(blk).max(axis=1)
        sc = np.where(amax > 0, amax / 127.0, 1.0)
        c = np.clip(np.rint(blk / sc[:, None]), -127, 127)
        resid = blk - sc[:, None] * c
        codes[s0 : s0 + 65536] = c.astype(np.int8)
        scale[s0 : s0 + 65536] = sc
        err[s0 : s0 + 65536] = np.sqrt((resid * resid).sum(axis=1)) * (1 + 1e-6) + 1e-9
    return codes, scale, err


def _kmeans_labels(x: np.ndarray, m: int, seed: int) -> np.ndarray:
    import faiss

    if m <= 1 or len(x) <= m:
        return np.zeros(len(x), dtype=np.int64) if m <= 1 else np.arange(len(x), dtype=np.int64)
    km = faiss.Kmeans(
        x.shape[1], m, niter=12, seed=seed, spherical=True, verbose=False, min_points_per_centroid=1
    )
    km.train(np.ascontiguousarray(x, dtype=np.float32))
    _, lab = km.index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return lab[:, 0].astype(np.int64)


def build_coclusters(
    coords: np.ndarray,
    vectors: np.ndarray,
    metric: str,
    *,
    leaf_size: int = 64,
    n_semantic: int | None = None,
    prefix_dims: int = 64,
    seed: int = 0,
    progress=None,
) -> CoClusters:
    """Partition objects into co-clusters (see module docstring). `vectors` must be unit rows (float32).

    Semantic first, then space: a cap bound is only as tight as the spread of directions inside a
    cluster, so objects are first grouped by spherical k-means on their vectors (`n_semantic` groups,
    default ~sqrt(n)/3 clamped to [1, 256]) and each group is then cut into spatially compact leaves of
    ~`leaf_size` objects by Sort-Tile-Recursive packing.
    """
    n = len(coords)
    if n_semantic is None:
        n_semantic = int(np.clip(round(np.sqrt(n) / 3), 1, 256))
    sem = _kmeans_labels(vectors, min(n_semantic, n), seed)
    if progress is not None:
        progress(n // 2)
    order_parts: list[np.ndarray] = []
    starts = [0]
    by_sem = np.argsort(sem, kind="stable")
    bounds = np.searchsorted(sem[by_sem], np.arange(sem.max() + 2))
    for g in range(len(bounds) - 1):
        rows = by_sem[bounds[g] : bounds[g + 1]]
        if len(rows) == 0:
            continue
        t_order, t_start = str_tiles(coords[rows], int(np.ceil(len(rows) / leaf_size)))
        for t in range(len(t_start) - 1):
            members = rows[t_order[t_start[t] : t_start[t + 1]]]
            order_parts.append(members)
            starts.append(starts[-1] + len(members))
    if progress is not None:
        progress(n - n // 2)
    emb = embed(coords, metric)
    order = np.concatenate(order_parts)
    start = np.asarray(starts, dtype=np.int64)
    e = emb[order]
    v = vectors[order]
    lo = np.minimum.reduceat(e, start[:-1], axis=0)
    hi = np.maximum.reduceat(e, start[:-1], axis=0)
    from .gmrtree import principal_basis

    m = max(1, min(prefix_dims, v.shape[1]))
    basis = principal_basis(v, m, np.random.default_rng(seed))
    prefix = np.empty((n, m), dtype=np.float32)
    resid = np.empty(n, dtype=np.float32)
    for s0 in range(0, n, 65536):
        blk = v[s0 : s0 + 65536].astype(np.float64)
        pr = blk @ basis
        prefix[s0 : s0 + 65536] = pr
        r2 = (blk * blk).sum(axis=1) - (pr * pr).sum(axis=1)
        resid[s0 : s0 + 65536] = np.sqrt(np.clip(r2, 0.0, None)) + 1e-5  # margin: float32 storage
    # caps in the prefix space: the m leading directions hold most of the signal and little of the noise
    p64 = prefix.astype(np.float64)
    pn = np.linalg.norm(p64, axis=1)
    unit_p = p64 / np.where(pn > 0, pn, 1.0)[:, None]
    sums = np.add.reduceat(unit_p, start[:-1], axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    cents = np.where(norms > 0, sums / np.where(norms > 0, norms, 1.0), 0.0)
    cents[norms[:, 0] == 0, 0] = 1.0  # members cancel out: any unit direction works (theta -> pi)
    cos_members = np.where(pn > 0, (unit_p * np.repeat(cents, np.diff(start), axis=0)).sum(axis=1), 1.0)
    cos_t = np.clip(np.minimum.reduceat(cos_members, start[:-1]) - 1e-6, -1.0, 1.0)
    sin_t = np.sqrt(np.clip(1.0 - cos_t * cos_t, 0.0, 1.0))
    codes, cscale, cerr = quantize_int8(v)
    return CoClusters(
        order=order,
        start=start,
        lo=lo,
        hi=hi,
        centroids=cents.astype(np.float32),
        cos_t=cos_t,
        sin_t=sin_t,
        pmax=np.maximum.reduceat(pn, start[:-1]) * (1 + 1e-6) + 1e-6,
        pmin=np.maximum(np.minimum.reduceat(pn, start[:-1]) * (1 - 1e-6) - 1e-6, 0.0),
        rmax=np.maximum.reduceat(resid.astype(np.float64), start[:-1]),
        basis=basis,
        prefix=prefix,
        resid=resid,
        codes=codes,
        cscale=cscale,
        cerr=cerr,
    )


def sim_upper_bounds(cc: CoClusters, qt64: np.ndarray, q_r: float) -> np.ndarray:
    """Per-cluster bound on Sim: prefix-space cap bound + |q_r| * max residual norm (module docstring)."""
    qn = float(np.linalg.norm(qt64))
    if qn == 0.0:
        return q_r * cc.rmax
    cs = np.clip((cc.centroids @ (qt64 / qn).astype(np.float32)).astype(np.float64), -1.0, 1.0)
    capcos = cs * cc.cos_t + np.sqrt(np.clip(1.0 - cs * cs, 0.0, 1.0)) * cc.sin_t
    capcos = np.where(cs >= cc.cos_t, 1.0, np.minimum(capcos, 1.0)) + 1e-6  # + float32 GEMV rounding
    prefix_ub = qn * np.where(capcos >= 0, cc.pmax, cc.pmin) * capcos
    return np.minimum(prefix_ub + q_r * cc.rmax, 1.0)


_BLAS_CONTROLLER = None


def _one_blas_thread():
    """Run the query's small GEMVs on one BLAS thread.

    A query does a few small matrix-vector products (14k x 64, a few thousand x 768). OpenBLAS splits them
    over all its threads and then waits for the slowest; on a busy machine that wait dominated the query
    (we measured a 14k x 64 GEMV at 15 ms with 2 threads under load and 0.2 ms with one). threadpoolctl
    (a scikit-learn dependency) scopes the limit to the query; brute force keeps every thread.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _cluster_rows(start: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Stored rows of clusters `sel` (each cluster is the contiguous slice start[c]:start[c + 1])."""
    lens = start[sel + 1] - start[sel]
    total = int(lens.sum())
    return np.repeat(start[sel] - np.cumsum(lens) + lens, lens) + np.arange(total)


def _box_columns(cc: CoClusters) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The cluster boxes as contiguous per-dimension columns (cached): strided column reads of the
    (P, e) box arrays cost more than the arithmetic on them."""
    cols = getattr(cc, "_box_cols", None)
    if cols is None:
        cols = (
            [np.ascontiguousarray(cc.lo[:, j]) for j in range(cc.lo.shape[1])],
            [np.ascontiguousarray(cc.hi[:, j]) for j in range(cc.hi.shape[1])],
        )
        cc._box_cols = cols
    return cols


def box_dist_bounds(cc: CoClusters, space: GeoSpace, qe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower bound of d(Q, o) in metres or units, farthest-corner distance in EMBEDDING units) per cluster.

    One fused pass over contiguous box columns. The lower bound uses the same formula and safety margins
    as GeoSpace.min_dist_boxes; the farthest corner stays in embedding (chord) units, converted only for
    the few clusters that cluster_d_max looks at (the arcsin over every cluster cost more than the rest).
    """
    los, his = _box_columns(cc)
    near = far = None
    for lo, hi, qj in zip(los, his, qe.tolist(), strict=True):
        a = lo - qj
        b = qj - hi
        gap = np.maximum(np.maximum(a, b), 0.0)
        wide = np.maximum(np.abs(a), np.abs(b))
        near = gap * gap if near is None else near + gap * gap
        far = wide * wide if far is None else far + wide * wide
    lb = np.maximum(space.from_chord(np.sqrt(near)) * (1 - 1e-9) - 1e-6, 0.0)
    return lb, np.sqrt(far)


def _to_chord(space: GeoSpace, d: float) -> float:
    """Inverse of GeoSpace.from_chord (metres -> chord of the unit sphere; identity for euclidean)."""
    if space.metric == "euclidean":
        return d
    return 2.0 * float(np.sin(min(d / (2.0 * EARTH_RADIUS_M), np.pi / 2)))


def cluster_d_max(cc: CoClusters, space: GeoSpace, q_xy: np.ndarray, far_chord: np.ndarray) -> float:
    """Exact max_o d(Q, o) by branch and bound over the co-cluster boxes (same value as GeoSpace.d_max).

    `far_chord`: farthest-corner distances of the cluster boxes in embedding units (box_dist_bounds).
    Over the small co-cluster boxes they are tight, so after scoring the cluster with the largest one only
    the few clusters whose bound (GeoSpace.max_dist_boxes's formula and margins) reaches that exact
    distance need their members scored. Every object is in some cluster and a cluster is skipped only when
    its upper bound is below an exact distance already found, so the argmax object is scored with the
    canonical `distances` and the result equals max(space.distances(q)) bit for bit (tested).
    """
    top = int(np.argmax(far_chord))
    best = float(space.distances(q_xy, np.arange(cc.start[top], cc.start[top + 1])).max())
    # cheap pre-selection in chord units with a generous margin: from_chord is monotone and
    # from_chord((1 - e) c) <= (1 - e) from_chord(c) (arcsin(x)/x grows), so a cluster left out here has
    # from_chord(far) * (1 + 1e-9) + 1e-6 < best whenever best > 1.01 (below that, no pre-selection)
    pre = np.flatnonzero(far_chord >= _to_chord(space, best) * (1 - 1e-6)) if best > 1.01 else None
    far = far_chord if pre is None else far_chord[pre]
    more = np.flatnonzero(space.from_chord(far) * (1 + 1e-9) + 1e-6 >= best)
    if pre is not None:
        more = pre[more]
    if len(more):
        best = max(best, float(space.distances(q_xy, _cluster_rows(cc.start, more)).max()))
    return best


def compiled_d_max(cc: CoClusters, space: GeoSpace, q_xy: np.ndarray, qe: np.ndarray, far: np.ndarray) -> float:
    """Exact max_o d(Q, o) via kernels.d_max_candidates: equal to max(space.distances(q_xy)) bit for bit."""
    from .kernels import d_max_candidates

    rows = d_max_candidates(far, cc.start, space.emb, qe)
    return float(space.distances(q_xy, rows).max())


IMPLS = ("auto", "numba", "numpy")


def _have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a declared dependency
        return False
    return True


def cocluster_search(
    cc: CoClusters,
    space: GeoSpace,
    vectors: np.ndarray,
    ids: np.ndarray,
    q_xy: np.ndarray,
    q_vec: np.ndarray,
    k: int,
    mu: float,
    slack: float = 0.0,
    stats: dict | None = None,
    impl: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (ids, scores). `space`, `vectors`, `ids` are in the stored (cluster) order; q_vec unit-norm.

    `impl`: "numba" (compiled kernels, kernels.py), "numpy" (the vectorised batch scan below, kept as the
    fallback where numba is missing and as a second implementation the tests hold to the same results) or
    "auto" (numba when importable).
    """
    if impl == "auto":
        impl = "numba" if _have_numba() else "numpy"
    if impl == "numba":
        return _search_compiled(cc, space, vectors, ids, q_xy, q_vec, k, mu, slack, stats)
    if impl != "numpy":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    with _one_blas_thread():
        return _search(cc, space, vectors, ids, q_xy, q_vec, k, mu, slack, stats)


_NO_CODES = (np.zeros((1, 1), dtype=np.int8), np.zeros(1), np.zeros(1))


def _search_compiled(cc, space, vectors, ids, q_xy, q_vec, k, mu, slack, stats):
    """The compiled query: cluster bounds in one loop, exact d_max (cluster_d_max), heap-ordered scan."""
    from . import kernels

    q64 = np.ascontiguousarray(q_vec, dtype=np.float64)
    qt64 = kernels.project(cc.basis, q64)
    q_r = float(np.sqrt(max(0.0, 1.0 - float(qt64 @ qt64)))) + 1e-6
    qn = float(np.sqrt(qt64 @ qt64))
    qhat = qt64 / qn if qn > 0 else qt64
    hav = space.metric == "haversine"
    qe = np.ascontiguousarray(space.embed_query(q_xy))
    near, far, sim = kernels.cluster_bounds(
        cc.lo, cc.hi, qe, cc.centroids, qhat, qn, cc.cos_t, cc.sin_t, cc.pmax, cc.pmin, cc.rmax, q_r, hav,
        EARTH_RADIUS_M,
    )
    dmax = compiled_d_max(cc, space, q_xy, qe, far)
    use_codes = cc.codes is not None
    codes, cscale, cerr = (cc.codes, cc.cscale, cc.cerr) if use_codes else _NO_CODES
    kk = min(k, len(ids))
    rows, f, kth, n_vis, n_pre, n_code = kernels.scan(
        near, sim, cc.start, space.emb, qe, cc.prefix, qt64, cc.resid, q_r, codes, q64, cscale, cerr,
        use_codes, vectors, q64, float(mu), float(dmax), hav, EARTH_RADIUS_M, kk, float(slack),
        SCREEN_MARGIN,
    )
    cand = rows[f >= kth - SCREEN_MARGIN] if np.isfinite(kth) else rows
    if stats is not None:
        stats["clusters_visited"] = int(n_vis)
        stats["objects_prefix"] = int(n_pre)
        stats["objects_int8"] = int(n_code)
        stats["objects_scored"] = len(rows)
    scores = exact_scores(vectors, cand, q_vec, space.distances(q_xy, cand), dmax, mu)
    return rank_topk(ids[cand], scores, k)


# first full-vector pass of a batch: the survivors with the best stage-1 bounds, to raise the k-th score
# before the rest of the batch is filtered again
_FIRST_PASS = 64


def _search(cc, space, vectors, ids, q_xy, q_vec, k, mu, slack, stats):
    q32 = np.asarray(q_vec, dtype=np.float32)
    qt64 = np.asarray(q_vec, dtype=np.float64) @ cc.basis
    qt = qt64.astype(np.float32)
    q_r = float(np.sqrt(max(0.0, 1.0 - float(qt64 @ qt64)))) + 1e-6
    qe = space.embed_query(q_xy)
    lbd, ubd = box_dist_bounds(cc, space, qe)
    dmax = cluster_d_max(cc, space, q_xy, ubd)
    dst_ub = 1.0 - lbd / dmax if dmax > 0 else np.ones(len(lbd))
    ub = mu * dst_ub + (1.0 - mu) * (sim_upper_bounds(cc, qt64, q_r) + SCREEN_MARGIN) + SCREEN_MARGIN
    # visit clusters by decreasing bound; sort lazily (most queries stop long before the tail)
    n_head = min(len(ub), 1024)
    head = np.argpartition(-ub, n_head - 1)[:n_head] if n_head < len(ub) else np.arange(len(ub))
    visit = head[np.argsort(-ub[head], kind="stable")]
    ub_sorted = ub[visit]
    start = cc.start
    kk = min(k, len(ids))
    kth = -np.inf
    best = np.empty(0)
    got_rows: list[np.ndarray] = []
    got_f: list[np.ndarray] = []
    pos, chunk, n_visited, n_prefix, n_full = 0, 16, 0, 0, 0
    w_prefix = 1.0 - mu
    while True:
        if pos >= len(visit):
            if len(visit) == len(ub):
                break
            rest = np.setdiff1d(np.arange(len(ub)), visit, assume_unique=True)  # the tail, sorted once
            visit = np.concatenate([visit, rest[np.argsort(-ub[rest], kind="stable")]])
            ub_sorted = ub[visit]
        if ub_sorted[pos] - slack < kth:
            break
        end = pos + chunk
        sel = visit[pos:end][ub_sorted[pos:end] - slack >= kth]
        pos, chunk = end, min(chunk * 2, 64)
        rows = _cluster_rows(start, sel)
        n_visited += len(sel)
        n_prefix += len(rows)
        # stage 1: per-object bound from the m-dim prefix: q.v <= q~.p_v + |q_r| * |v_r|, first with the
        # cluster's distance bound, then (for the rows that pass) with the object's own distance
        s_ub = np.take(cc.prefix, rows, axis=0) @ qt + (q_r * np.take(cc.resid, rows) + SCREEN_MARGIN)
        if np.isfinite(kth):
            lens = start[sel + 1] - start[sel]
            pre = mu * np.repeat(dst_ub[sel], lens) + w_prefix * s_ub + SCREEN_MARGIN >= kth + slack
            rows, s_ub = rows[pre], s_ub[pre]
        d = space.screen_distances(q_xy, rows, qe)
        dst = 1.0 - d / dmax if dmax > 0 else np.ones(len(rows))
        f_ub = mu * dst + w_prefix * s_ub
        f_ub += SCREEN_MARGIN
        keep = np.flatnonzero(f_ub >= kth + slack)
        if len(keep) > _FIRST_PASS:  # best bounds first: their exact scores lift kth, the rest is refiltered
            keep = keep[np.argsort(-f_ub[keep], kind="stable")]
            parts = [keep[:_FIRST_PASS], keep[_FIRST_PASS:]]
        else:
            parts = [keep]
        for j, part in enumerate(parts):
            if j:
                part = part[f_ub[part] >= kth + slack]
            if len(part) == 0:
                continue
            r = rows[part]
            n_full += len(r)
            # stage 2: the full float32 inner product for the survivors only
            f = mu * dst[part] + (1.0 - mu) * (np.take(vectors, r, axis=0) @ q32)
            got_rows.append(r)
            got_f.append(f)
            best = np.concatenate([best, f])
            if len(best) >= kk:
                best = np.partition(best, len(best) - kk)[len(best) - kk :]
                kth = float(best[0])
    rows = np.concatenate(got_rows) if got_rows else np.empty(0, dtype=np.int64)
    f = np.concatenate(got_f) if got_f else np.empty(0)
    cand = rows[f >= kth - SCREEN_MARGIN] if np.isfinite(kth) else rows
    if stats is not None:
        stats["clusters_visited"] = n_visited
        stats["objects_prefix"] = n_prefix
        stats["objects_scored"] = n_full
    scores = exact_scores(vectors, cand, q_vec, space.distances(q_xy, cand), dmax, mu)
    return rank_topk(ids[cand], scores, k)
