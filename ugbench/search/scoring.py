"""The geo-multimedia score F(Q, o) = mu * Dst(Q, o) + (1 - mu) * Sim(Q, o), defined once for every engine.

Definitions (Zhu et al., IEEE Access 2019, eqs. 3-7), with the choices the paper leaves open made explicit:

- Coordinates are an (n, 2) array of (x, y). With ``metric="euclidean"`` (the paper) d is the Euclidean
  distance on (x, y) as given (the paper uses (lon, lat) degrees; projected metres work the same way).
  With ``metric="haversine"`` x is longitude and y latitude in degrees and d is the great-circle distance
  in metres (ugcore.geo.haversine_m, mean Earth radius 6,371,008.8 m).
- Dst(Q, o) = 1 - d(Q, o) / d_max(Q, O) where d_max(Q, O) = max over ALL objects o' in the indexed set O of
  d(Q, o') (eq. 6), computed exactly (branch and bound over cell boxes, see `GeoSpace.d_max`). When
  d_max = 0 (every object sits on Q) Dst = 1 for all objects. Dst lies in [0, 1] for every query.
- Sim(Q, o) = cosine(Q.vector, o.vector), the raw cosine in [-1, 1] (we do NOT rescale to [0, 1]). Vectors
  are L2-normalised at build time and queries at query time; a zero vector is an error. In CoSMat's
  probability space all components are >= 0, so there Sim falls in [0, 1] automatically.
- Ranking: descending F; ties (equal float64 F) go to the LOWER object index (the row number in the data
  given to build). Every engine re-scores its final candidates with `exact_scores` (float64, one fixed code
  path per row), so equal objects get bitwise-equal scores and the tie rule is applied identically.

Engines screen with float32 inner products; float32 error on a 768-d cosine is far below `SCREEN_MARGIN`,
which every engine adds to its bounds and candidate thresholds before the float64 re-score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ugcore.errors import UserError
from ugcore.geo import EARTH_RADIUS_M, haversine_m

METRICS = ("euclidean", "haversine")
# Safety margin for float32 screening and for bounds computed in a different float path than the score.
SCREEN_MARGIN = 1e-4


def check_mu_k(mu: float, k: int) -> None:
    if not (0.0 <= float(mu) <= 1.0) or not np.isfinite(mu):
        raise UserError(f"mu must lie in [0, 1] (got {mu}); mu weighs distance against semantic similarity")
    if int(k) < 1:
        raise UserError(f"k must be at least 1 (got {k})")


def normalize_rows(vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
    """L2-normalise rows to float32; zero or non-finite rows are user errors (cosine is undefined)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise UserError(f"{what} must be a 2-D array (n, dim); got shape {v.shape}")
    if not np.isfinite(v).all():
        bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
        raise UserError(f"{what} row {bad} has NaN/inf values; fix or drop that row")
    out = np.empty(v.shape, dtype=np.float32)
    for s in range(0, len(v), 65536):  # chunked: a float64 copy of 465k x 768 would be 2.9 GB
        blk = v[s : s + 65536].astype(np.float64)
        norms = np.sqrt((blk * blk).sum(axis=1))
        if (norms == 0).any():
            bad = s + int(np.flatnonzero(norms == 0)[0])
            raise UserError(f"{what} row {bad} is the zero vector; cosine similarity is undefined for it")
        out[s : s + 65536] = blk / norms[:, None]
    return out


def to_unit_sphere(coords: np.ndarray) -> np.ndarray:
    """(lon, lat) degrees -> 3-D unit vectors: the space in which haversine bounds are boxes."""
    lon = np.radians(coords[:, 0])
    lat = np.radians(coords[:, 1])
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def check_coords(coords: np.ndarray, metric: str, what: str = "coordinates") -> np.ndarray:
    c = np.asarray(coords, dtype=np.float64)
    if c.ndim == 1 and c.shape[0] == 2:
        c = c[None, :]
    if c.ndim != 2 or c.shape[1] != 2:
        raise UserError(f"{what} must have shape (n, 2) as (x, y) / (lon, lat); got {c.shape}")
    if not np.isfinite(c).all():
        bad = int(np.flatnonzero(~np.isfinite(c).all(axis=1))[0])
        raise UserError(f"{what} row {bad} is not finite; fix or drop that row")
    if metric not in METRICS:
        raise UserError(f"unknown metric '{metric}'; use one of {', '.join(METRICS)}")
    if metric == "haversine":
        if (np.abs(c[:, 1]) > 90).any():
            bad = int(np.flatnonzero(np.abs(c[:, 1]) > 90)[0])
            raise UserError(
                f"{what} row {bad}: latitude {c[bad, 1]} outside [-90, 90] (columns are lon, lat)"
            )
        if (np.abs(c[:, 0]) > 180).any():
            bad = int(np.flatnonzero(np.abs(c[:, 0]) > 180)[0])
            raise UserError(f"{what} row {bad}: longitude {c[bad, 0]} outside [-180, 180]")
    return c


@dataclass
class GeoSpace:
    """Distances of one metric over one indexed point set, plus the boxes that bound them.

    Bounds live in an "embedding" of the coordinates where the metric is a monotone function of Euclidean
    distance: the coordinates themselves (euclidean) or 3-D unit vectors (haversine: arc = 2 R asin(chord/2)).
    So a box around some objects in that space gives a lower bound (nearest box point) and an upper bound
    (farthest corner) on d(Q, o) for every o inside, for either metric.
    """

    metric: str
    coords: np.ndarray  # (n, 2) float64, (x, y) or (lon, lat)
    cell_lo: np.ndarray  # (c, e) boxes of the d_max cells in embedding space
    cell_hi: np.ndarray
    cell_start: np.ndarray  # (c + 1,) offsets into cell_order
    cell_order: np.ndarray  # object indices grouped by cell
    emb: np.ndarray | None = None  # (n, e) embedded coordinates (screening distances)

    @classmethod
    def build(cls, coords: np.ndarray, metric: str, cell_size: int = 512) -> GeoSpace:
        coords = check_coords(coords, metric)
        emb = embed(coords, metric)
        order, start = str_tiles(coords, max(1, int(np.ceil(len(coords) / cell_size))))
        lo = np.empty((len(start) - 1, emb.shape[1]))
        hi = np.empty_like(lo)
        for i in range(len(start) - 1):
            pts = emb[order[start[i] : start[i + 1]]]
            lo[i], hi[i] = pts.min(axis=0), pts.max(axis=0)
        return cls(metric, coords, lo, hi, start, order, emb)

    def distances(self, q: np.ndarray, idx: np.ndarray | slice | None = None) -> np.ndarray:
        """Canonical float64 distances from one query point q = (x, y) to objects `idx` (all if None)."""
        pts = self.coords if idx is None else self.coords[idx]
        return point_distances(q, pts, self.metric)

    def screen_distances(self, q: np.ndarray, idx: np.ndarray, qe: np.ndarray | None = None) -> np.ndarray:
        """Fast distances for pruning only (haversine via the 3-D chord: one arcsin instead of the full
        haversine formula). They agree with `distances` to ~1e-9 relative, far inside SCREEN_MARGIN; final
        scores always use `distances`. `qe` is the embedded query (pass it to skip recomputing it)."""
        if self.metric == "euclidean" or self.emb is None:
            return self.distances(q, idx)
        if qe is None:
            qe = self.embed_query(q)
        if not hasattr(self, "_cols"):
            self._cols = [np.ascontiguousarray(self.emb[:, j]) for j in range(self.emb.shape[1])]
        acc = None
        for col, qj in zip(self._cols, qe.tolist(), strict=True):  # per column: no slow length-3 reductions
            dj = col[idx] - qj
            acc = dj * dj if acc is None else acc + dj * dj
        return self.from_chord(np.sqrt(acc))

    def embed_query(self, q: np.ndarray) -> np.ndarray:
        return embed(np.asarray(q, dtype=np.float64)[None, :], self.metric)[0]

    def from_chord(self, chord: np.ndarray) -> np.ndarray:
        """Embedding-space Euclidean distance -> metric distance (identity for euclidean)."""
        if self.metric == "euclidean":
            return chord
        return 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))

    def min_dist_boxes(self, qe: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Lower bound of d(Q, o) for o inside each box (qe: embedded query)."""
        acc = np.zeros(len(lo))
        for j, qj in enumerate(qe.tolist()):
            gap = np.maximum(np.maximum(lo[:, j] - qj, qj - hi[:, j]), 0.0)
            acc += gap * gap
        lb = self.from_chord(np.sqrt(acc))
        return np.maximum(lb * (1 - 1e-9) - 1e-6, 0.0)

    def max_dist_boxes(self, qe: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        acc = np.zeros(len(lo))
        for j, qj in enumerate(qe.tolist()):
            far = np.maximum(np.abs(qj - lo[:, j]), np.abs(qj - hi[:, j]))
            acc += far * far
        return self.from_chord(np.sqrt(acc)) * (1 + 1e-9) + 1e-6

    def d_max(self, q: np.ndarray) -> float:
        """Exact max_o d(Q, o): branch and bound over cell boxes, then the max of canonical distances.

        Cells are visited by decreasing farthest-corner bound; a cell is skipped only when its bound is
        below the best exact distance already found, so the argmax object is always evaluated and the
        returned value equals max(self.distances(q)) bit for bit.
        """
        qe = self.embed_query(q)
        ub = self.max_dist_boxes(qe, self.cell_lo, self.cell_hi)
        best = -np.inf
        for c in np.argsort(-ub, kind="stable"):
            if ub[c] < best:
                break
            d = self.distances(q, self.cell_order[self.cell_start[c] : self.cell_start[c + 1]])
            best = max(best, float(d.max()))
        return best


def embed(coords: np.ndarray, metric: str) -> np.ndarray:
    return to_unit_sphere(coords) if metric == "haversine" else np.asarray(coords, dtype=np.float64)


def point_distances(q: np.ndarray, pts: np.ndarray, metric: str) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if metric == "haversine":
        # rounded to the micrometre: numpy's SIMD and scalar sin/cos/arcsin may differ in the last bit, and
        # the same object must get the same distance whichever batch it is scored in (tie rule)
        return np.round(haversine_m(q[1], q[0], pts[:, 1], pts[:, 0]), 6)
    dx = pts[:, 0] - q[0]
    dy = pts[:, 1] - q[1]
    return np.sqrt(dx * dx + dy * dy)


def str_tiles(coords: np.ndarray, n_tiles: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort-Tile-Recursive grouping of points into ~n_tiles groups of equal size.

    Returns (order, start): object indices grouped tile by tile, and tile offsets. Equal-count tiles adapt
    to clustered data (a uniform grid would leave most cells empty and a few overfull).
    """
    n = len(coords)
    n_tiles = max(1, min(n_tiles, n))
    per_tile = int(np.ceil(n / n_tiles))
    n_slabs = max(1, int(np.ceil(np.sqrt(n_tiles))))
    slab_size = per_tile * int(np.ceil(n_tiles / n_slabs))
    by_x = np.lexsort((np.arange(n), coords[:, 1], coords[:, 0]))
    order_parts, starts = [], [0]
    for s in range(0, n, slab_size):
        slab = by_x[s : s + slab_size]
        slab = slab[np.lexsort((slab, coords[slab, 0], coords[slab, 1]))]
        for t in range(0, len(slab), per_tile):
            part = slab[t : t + per_tile]
            order_parts.append(part)
            starts.append(starts[-1] + len(part))
    return np.concatenate(order_parts), np.asarray(starts, dtype=np.int64)


def dst_from_dist(dist: np.ndarray, dmax: float) -> np.ndarray:
    if dmax <= 0.0:
        return np.ones_like(dist)
    return 1.0 - dist / dmax


def exact_scores(
    vectors: np.ndarray, rows: np.ndarray, q_vec: np.ndarray, dist: np.ndarray, dmax: float, mu: float
) -> np.ndarray:
    """Canonical float64 F for the given rows: the one code path every engine's final ranking uses.

    The dot product is an elementwise float64 product followed by numpy's per-row pairwise sum, so a row's
    score does not depend on which other rows are scored with it (BLAS kernels do not promise that).
    """
    v = vectors[rows].astype(np.float64)
    sim = (v * np.asarray(q_vec, dtype=np.float64)[None, :]).sum(axis=1)
    return mu * dst_from_dist(dist, dmax) + (1.0 - mu) * sim


def rank_topk(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by descending score, ties to the lower id (the documented rule)."""
    o = np.lexsort((ids, -scores))[:k]
    return ids[o], scores[o]
