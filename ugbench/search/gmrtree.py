"""GMR-Tree (Zhu et al. 2019): an STR-packed R-tree whose entries carry an MBR and a semantic signature,
searched best-first by kGMCMS. With `use_signatures=False` the same tree is the R-tree baseline.

Hand-written on purpose: rtree (libspatialindex) and shapely's STRtree index boxes only; neither can carry a
per-entry payload (the OR-ed signature) that the search must read at every node, so the tree is a few numpy
arrays per level, bulk-loaded with Sort-Tile-Recursive packing (Leutenegger et al. 1997).

Signature bit rule (the paper leaves H_SIG open). R = the top `n_dims` principal directions of the vectors
(SVD of a sample at build). For an object with unit vector v and u = R^T v:
    bit 2j   is set  iff  u_j >  tau_j        ("strongly positive on concept j")
    bit 2j+1 is set  iff  u_j < -tau_j        ("strongly negative on concept j")
with tau_j the 75th percentile of |u_j| over the objects. A node's signature is the OR of its children's,
so for every object below a node: an unset bit 2j means u_j <= tau_j, an unset bit 2j+1 means u_j >= -tau_j.

Pruning bound (exact). Write q = R q~ + q_r and v = R u + v_r (orthogonal parts). Then
    Sim(Q, o) = q~ . u + q_r . v_r <= sum_j max(q~_j L_j, q~_j H_j) + |q_r| * r_max
where [L_j, H_j] is [-tau_j or the global min of u_j, tau_j or the global max of u_j] as the bits allow, and
r_max = max over objects of |v_r|. With the MBR, F <= mu * (1 - mindist(Q, MBR) / d_max) + (1 - mu) * that.
kGMCMS pops the entry with the largest bound ("the signature matches" = its bound still reaches the
current k-th score), scores a leaf's objects exactly, and stops when the best remaining bound is below the
k-th score. The R-tree baseline uses Sim <= 1 instead of the signature bound.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .scoring import SCREEN_MARGIN, GeoSpace, embed, exact_scores, rank_topk, str_tiles


@dataclass
class GMRTree:
    fanout: int
    leaf_rows: np.ndarray  # object positions grouped leaf by leaf
    leaf_start: np.ndarray
    # per level (0 = leaves): boxes, signatures (uint64 words), children offsets into child_idx
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    sig: list[np.ndarray] = field(default_factory=list)
    child_start: list[np.ndarray] = field(default_factory=list)  # empty for level 0
    child_idx: list[np.ndarray] = field(default_factory=list)
    basis: np.ndarray | None = None  # (dim, n_dims) float64
    tau: np.ndarray | None = None
    gmin: np.ndarray | None = None
    gmax: np.ndarray | None = None
    r_max: float = 1.0

    @property
    def n_nodes(self) -> int:
        return sum(len(s) for s in self.sig)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "gmr_fanout": np.asarray(self.fanout),
            "gmr_leaf_rows": self.leaf_rows,
            "gmr_leaf_start": self.leaf_start,
            "gmr_basis": self.basis,
            "gmr_tau": self.tau,
            "gmr_gmin": self.gmin,
            "gmr_gmax": self.gmax,
            "gmr_r_max": np.asarray(self.r_max),
            "gmr_levels": np.asarray(len(self.sig)),
        }
        for i in range(len(self.sig)):
            out[f"gmr_lo_{i}"], out[f"gmr_hi_{i}"], out[f"gmr_sig_{i}"] = self.lo[i], self.hi[i], self.sig[i]
            out[f"gmr_cs_{i}"], out[f"gmr_ci_{i}"] = self.child_start[i], self.child_idx[i]
        return out

    @classmethod
    def from_arrays(cls, a) -> GMRTree:
        n = int(a["gmr_levels"])
        t = cls(int(a["gmr_fanout"]), np.asarray(a["gmr_leaf_rows"]), np.asarray(a["gmr_leaf_start"]))
        for i in range(n):
            t.lo.append(np.asarray(a[f"gmr_lo_{i}"]))
            t.hi.append(np.asarray(a[f"gmr_hi_{i}"]))
            t.sig.append(np.asarray(a[f"gmr_sig_{i}"]))
            t.child_start.append(np.asarray(a[f"gmr_cs_{i}"]))
            t.child_idx.append(np.asarray(a[f"gmr_ci_{i}"]))
        t.basis, t.tau = np.asarray(a["gmr_basis"]), np.asarray(a["gmr_tau"])
        t.gmin, t.gmax, t.r_max = np.asarray(a["gmr_gmin"]), np.asarray(a["gmr_gmax"]), float(a["gmr_r_max"])
        return t


def principal_basis(vectors: np.ndarray, n_dims: int, rng: np.random.Generator) -> np.ndarray:
    """Top `n_dims` principal directions (uncentred second moment) of a sample, orthonormal columns.

    eigh of the dim x dim moment matrix: a 768 x 768 eigenproblem instead of an SVD of the sample.
    """
    sample = vectors[rng.choice(len(vectors), size=min(len(vectors), 50000), replace=False)].astype(
        np.float64
    )
    w, vecs = np.linalg.eigh(sample.T @ sample)
    return np.ascontiguousarray(vecs[:, np.argsort(-w)[:n_dims]])


def _signatures(u: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Object signatures as uint64 words (2 bits per concept dimension, see the module docstring)."""
    bits = np.zeros((len(u), 2 * u.shape[1]), dtype=bool)
    bits[:, 0::2] = u > tau
    bits[:, 1::2] = u < -tau
    n_words = (bits.shape[1] + 63) // 64
    padded = np.zeros((len(u), n_words * 64), dtype=bool)
    padded[:, : bits.shape[1]] = bits
    packed = np.packbits(padded.reshape(len(u), n_words, 64), axis=2, bitorder="little")
    return packed.view(np.uint64).reshape(len(u), n_words)


def _unpack(sig: np.ndarray, n_bits: int) -> np.ndarray:
    by = sig.view(np.uint8).reshape(len(sig), -1)
    return np.unpackbits(by, axis=1, bitorder="little")[:, :n_bits].astype(bool)


def build_gmrtree(
    coords: np.ndarray, vectors: np.ndarray, metric: str, *, fanout: int = 32, n_dims: int = 32, seed: int = 0
) -> GMRTree:
    n, dim = vectors.shape
    n_dims = max(1, min(n_dims, dim, n))
    rng = np.random.default_rng(seed)
    basis = principal_basis(vectors, n_dims, rng)
    u = np.empty((n, n_dims))
    for s in range(0, n, 65536):
        u[s : s + 65536] = vectors[s : s + 65536].astype(np.float64) @ basis
    tau = np.quantile(np.abs(u), 0.75, axis=0)
    r_max = float(np.sqrt(np.clip(1.0 - (u * u).sum(axis=1), 0.0, None)).max())
    obj_sig = _signatures(u, tau)
    emb = embed(coords, metric)

    leaf_rows, leaf_start = str_tiles(coords, int(np.ceil(n / fanout)))
    tree = GMRTree(
        fanout, leaf_rows, leaf_start, basis=basis, tau=tau, gmin=u.min(axis=0), gmax=u.max(axis=0)
    )
    tree.r_max = r_max
    seg = leaf_start[:-1]
    tree.lo.append(np.minimum.reduceat(emb[leaf_rows], seg, axis=0))
    tree.hi.append(np.maximum.reduceat(emb[leaf_rows], seg, axis=0))
    tree.sig.append(np.bitwise_or.reduceat(obj_sig[leaf_rows], seg, axis=0))
    tree.child_start.append(np.zeros(0, dtype=np.int64))
    tree.child_idx.append(np.zeros(0, dtype=np.int64))
    # planar centres for packing upper levels (lon/lat or x/y), whatever the metric
    centre_xy = np.add.reduceat(coords[leaf_rows], seg, axis=0) / np.diff(leaf_start)[:, None]
    while len(tree.sig[-1]) > 1:
        order, start = str_tiles(centre_xy, int(np.ceil(len(centre_xy) / fanout)))
        s = start[:-1]
        tree.lo.append(np.minimum.reduceat(tree.lo[-1][order], s, axis=0))
        tree.hi.append(np.maximum.reduceat(tree.hi[-1][order], s, axis=0))
        tree.sig.append(np.bitwise_or.reduceat(tree.sig[-1][order], s, axis=0))
        tree.child_start.append(start)
        tree.child_idx.append(order)
        centre_xy = np.add.reduceat(centre_xy[order], s, axis=0) / np.diff(start)[:, None]
    # decode each node's signature once into its per-dimension interval [L, H] (same information as bits)
    tree._intervals = [_intervals(tree, s) for s in tree.sig]  # type: ignore[attr-defined]
    return tree


def _intervals(tree: GMRTree, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bits = _unpack(sig, 2 * len(tree.tau))
    hi = np.where(bits[:, 0::2], tree.gmax, tree.tau)
    lo = np.where(bits[:, 1::2], tree.gmin, -tree.tau)
    return lo, hi


def gmr_search(
    tree: GMRTree,
    space: GeoSpace,
    vectors: np.ndarray,
    ids: np.ndarray,
    q_xy: np.ndarray,
    q_vec: np.ndarray,
    k: int,
    mu: float,
    use_signatures: bool = True,
    stats: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """kGMCMS best-first search (or the plain R-tree baseline with use_signatures=False)."""
    if not hasattr(tree, "_intervals"):
        tree._intervals = [_intervals(tree, s) for s in tree.sig]  # type: ignore[attr-defined]
    q64 = np.asarray(q_vec, dtype=np.float64)
    q32 = q64.astype(np.float32)
    qt = q64 @ tree.basis
    q_r = float(np.sqrt(max(0.0, 1.0 - float(qt @ qt))))
    dmax = space.d_max(q_xy)
    qe = space.embed_query(q_xy)
    kk = min(k, len(ids))

    def bounds(level: int, nodes: np.ndarray) -> np.ndarray:
        lbd = space.min_dist_boxes(qe, tree.lo[level][nodes], tree.hi[level][nodes])
        dst_ub = 1.0 - lbd / dmax if dmax > 0 else np.ones(len(nodes))
        if use_signatures:
            lo, hi = tree._intervals[level]
            sim_ub = np.maximum(qt * lo[nodes], qt * hi[nodes]).sum(axis=1) + q_r * tree.r_max
            sim_ub = np.minimum(sim_ub, 1.0)
        else:
            sim_ub = 1.0
        return mu * dst_ub + (1.0 - mu) * (sim_ub + SCREEN_MARGIN) + SCREEN_MARGIN

    top = len(tree.sig) - 1
    heap: list[tuple[float, int, int]] = [(-float(bounds(top, np.array([0]))[0]), top, 0)]
    kth = -np.inf
    best = np.empty(0)
    got_rows, got_f = [], []
    n_leaves = 0
    while heap and -heap[0][0] >= kth:
        _, level, node = heapq.heappop(heap)
        if level == 0:
            rows = tree.leaf_rows[tree.leaf_start[node] : tree.leaf_start[node + 1]]
            sims = vectors[rows] @ q32
            d = space.distances(q_xy, rows)
            f = mu * (1.0 - d / dmax if dmax > 0 else 1.0) + (1.0 - mu) * sims
            got_rows.append(rows)
            got_f.append(f)
            n_leaves += 1
            best = np.concatenate([best, f])
            if len(best) >= kk:
                best = np.partition(best, len(best) - kk)[len(best) - kk :]
                kth = float(best[0])
            continue
        cs = tree.child_start[level]
        children = tree.child_idx[level][cs[node] : cs[node + 1]]
        ub = bounds(level - 1, children)
        for c, b in zip(children.tolist(), ub.tolist(), strict=True):
            if b >= kth:
                heapq.heappush(heap, (-b, level - 1, c))
    rows = np.concatenate(got_rows)
    f = np.concatenate(got_f)
    cand = rows[f >= kth - SCREEN_MARGIN]
    if stats is not None:
        stats["leaves_visited"] = n_leaves
        stats["objects_scored"] = len(rows)
    scores = exact_scores(vectors, cand, q_vec, space.distances(q_xy, cand), dmax, mu)
    return rank_topk(ids[cand], scores, k)
