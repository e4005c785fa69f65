"""GeoIndex: the public Python API of the kNN geo-multimedia search (build, search, save, load).

    idx = GeoIndex.build(coords, vectors, metric="haversine")      # coords (n, 2) as (lon, lat)
    res = idx.search((lon, lat), query_vector, k=10, mu=0.5)       # engine="ours" | "ours-approx" |
    idx.save("my.index"); idx = GeoIndex.load("my.index")          #   "gmr" | "rtree" | "brute"

Every engine returns exactly the brute-force top-k under the ranking defined in scoring.py (descending F,
ties to the lower object index), except "ours-approx" which trades exactness for speed (see cocluster.py).
On disk an index is a directory written atomically: header.json (format, metric, sizes, model, build
parameters) and arrays.npz (vectors, coordinates and every engine's arrays).
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ugcore.atomic import atomic_dir
from ugcore.errors import UserError

from .brute import brute_force, brute_force_batch
from .cocluster import CoClusters, build_coclusters, cocluster_search
from .gmrtree import GMRTree, build_gmrtree, gmr_search
from .scoring import GeoSpace, check_coords, check_mu_k, normalize_rows

FORMAT = "ugbench-geo-index"
FORMAT_VERSION = 1
ENGINES = ("ours", "ours-approx", "gmr", "rtree", "brute")
DEFAULT_APPROX_SLACK = 0.02


@dataclass
class SearchResult:
    indices: np.ndarray  # object indices (rows of the data given to build), best first
    scores: np.ndarray  # F(Q, o), float64
    object_ids: list[str]  # the user's ids for those objects (str(index) when none were given)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class GeoIndex:
    metric: str
    vectors: np.ndarray  # (n, dim) float32 unit rows, stored (cluster) order
    coords: np.ndarray  # (n, 2) float64, stored order
    ids: np.ndarray  # (n,) original object index of each stored row
    cc: CoClusters
    gmr: GMRTree | None
    object_ids: np.ndarray | None = None  # (n,) user ids in ORIGINAL order
    meta: dict[str, Any] = field(default_factory=dict)
    space: GeoSpace | None = None

    def __post_init__(self) -> None:
        if self.space is None:
            self.space = GeoSpace.build(self.coords, self.metric)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def build(
        cls,
        coords: np.ndarray,
        vectors: np.ndarray,
        *,
        metric: str = "euclidean",
        object_ids: list[str] | np.ndarray | None = None,
        with_gmr: bool = True,
        leaf_size: int = 32,
        prefix_dims: int = 64,
        gmr_fanout: int = 32,
        gmr_dims: int = 32,
        seed: int = 0,
        meta: dict[str, Any] | None = None,
        progress=None,
    ) -> GeoIndex:
        """Index n objects: coords (n, 2) as (x, y) or, for haversine, (lon, lat) degrees; vectors (n, dim)."""
        coords = check_coords(coords, metric)
        vectors = normalize_rows(vectors)
        if len(coords) != len(vectors):
            raise UserError(
                f"{len(coords)} coordinates but {len(vectors)} vectors: one row per object in both"
            )
        if len(coords) == 0:
            raise UserError("nothing to index: no objects given")
        if object_ids is not None and len(object_ids) != len(coords):
            raise UserError(f"{len(object_ids)} object ids for {len(coords)} objects")
        t0 = time.perf_counter()
        cc = build_coclusters(
            coords,
            vectors,
            metric,
            leaf_size=leaf_size,
            prefix_dims=prefix_dims,
            seed=seed,
            progress=progress,
        )
        t1 = time.perf_counter()
        order = cc.order
        s_vec = np.ascontiguousarray(vectors[order])
        s_xy = np.ascontiguousarray(coords[order])
        gmr = (
            build_gmrtree(s_xy, s_vec, metric, fanout=gmr_fanout, n_dims=gmr_dims, seed=seed)
            if with_gmr
            else None
        )
        t2 = time.perf_counter()
        info = dict(meta or {})
        info.update(
            {
                "build_seconds_ours": round(t1 - t0, 3),
                "build_seconds_gmr": round(t2 - t1, 3),
                "params": {
                    "leaf_size": leaf_size,
                    "prefix_dims": prefix_dims,
                    "gmr_fanout": gmr_fanout,
                    "gmr_dims": gmr_dims,
                    "seed": seed,
                },
            }
        )
        oid = None if object_ids is None else np.asarray([str(x) for x in object_ids])
        return cls(metric, s_vec, s_xy, order.astype(np.int64), cc, gmr, oid, info)

    # ---------------------------------------------------------------- search
    def _check_query(self, q_xy, q_vec) -> tuple[np.ndarray, np.ndarray]:
        q_xy = check_coords(np.asarray(q_xy, dtype=np.float64).reshape(-1, 2), self.metric, "query location")
        q = np.asarray(q_vec, dtype=np.float64).reshape(-1)
        if q.shape[0] != self.dim:
            raise UserError(
                f"query vector has dimension {q.shape[0]} but the index holds {self.dim}-d vectors; "
                "embed the query with the model the index was built with"
            )
        return q_xy[0], normalize_rows(q[None, :], "query vector")[0].astype(np.float64)

    def search(
        self,
        q_xy,
        q_vec,
        k: int = 10,
        mu: float = 0.5,
        *,
        engine: str = "ours",
        slack: float = DEFAULT_APPROX_SLACK,
    ) -> SearchResult:
        """Top-k objects by F = mu * Dst + (1 - mu) * Sim for one query (location, vector)."""
        check_mu_k(mu, k)
        q_xy, q = self._check_query(q_xy, q_vec)
        stats: dict[str, Any] = {}
        if engine == "ours":
            idx, sc = cocluster_search(
                self.cc, self.space, self.vectors, self.ids, q_xy, q, k, mu, stats=stats
            )
        elif engine == "ours-approx":
            idx, sc = cocluster_search(
                self.cc, self.space, self.vectors, self.ids, q_xy, q, k, mu, slack=slack, stats=stats
            )
        elif engine in ("gmr", "rtree"):
            if self.gmr is None:
                raise UserError("this index was built without the GMR-Tree; rebuild without --no-gmr")
            idx, sc = gmr_search(
                self.gmr,
                self.space,
                self.vectors,
                self.ids,
                q_xy,
                q,
                k,
                mu,
                use_signatures=engine == "gmr",
                stats=stats,
            )
        elif engine == "brute":
            idx, sc = brute_force(self.space, self.vectors, self.ids, q_xy, q, k, mu)
        else:
            raise UserError(f"unknown engine '{engine}'; use one of {', '.join(ENGINES)}")
        return SearchResult(idx, sc, self._names(idx), stats)

    def search_brute_batch(self, q_xys, q_vecs, k: int = 10, mu: float = 0.5) -> list[SearchResult]:
        """Brute force for many queries at once (one float32 GEMM per batch): the batched reference."""
        check_mu_k(mu, k)
        qs = [self._check_query(a, b) for a, b in zip(q_xys, q_vecs, strict=True)]
        xy = np.array([a for a, _ in qs])
        qv = np.array([b for _, b in qs])
        out = brute_force_batch(self.space, self.vectors, self.ids, xy, qv, k, mu)
        return [SearchResult(i, s, self._names(i)) for i, s in out]

    def _names(self, idx: np.ndarray) -> list[str]:
        if self.object_ids is None:
            return [str(int(i)) for i in idx]
        return [str(x) for x in self.object_ids[idx]]

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held per part (vectors and coordinates are shared by all engines)."""
        cc = sum(v.nbytes for v in self.cc.arrays().values() if isinstance(v, np.ndarray))
        gmr = (
            sum(v.nbytes for v in self.gmr.arrays().values() if isinstance(v, np.ndarray)) if self.gmr else 0
        )
        return {
            "vectors": self.vectors.nbytes,
            "coords": self.coords.nbytes + self.ids.nbytes,
            "ours": cc,
            "gmr": gmr,
            "dmax_cells": sum(
                getattr(self.space, a).nbytes for a in ("cell_lo", "cell_hi", "cell_start", "cell_order")
            ),
        }

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"vectors": self.vectors, "coords": self.coords, "ids": self.ids}
        arrays.update(self.cc.arrays())
        if self.gmr is not None:
            arrays.update(self.gmr.arrays())
        if self.object_ids is not None:
            arrays["object_ids"] = self.object_ids
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "metric": self.metric,
            "n": self.n,
            "dim": self.dim,
            "has_gmr": self.gmr is not None,
            "meta": self.meta,
        }
        with atomic_dir(path, overwrite=overwrite) as tmp:
            np.savez(tmp / "arrays.npz", **arrays)
            (tmp / "header.json").write_text(json.dumps(header, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> GeoIndex:
        path = Path(path)
        hp = path / "header.json"
        if not hp.is_file():
            raise UserError(
                f"{path} is not a search index (no header.json); build one with `ugbench search build`"
            )
        try:
            header = json.loads(hp.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"{hp} is not valid JSON ({e}); rebuild the index") from e
        if header.get("format") != FORMAT:
            raise UserError(f"{hp} does not describe a {FORMAT} index")
        if int(header.get("format_version", 0)) > FORMAT_VERSION:
            raise UserError(
                f"{path} was written by a newer ugbench (format {header['format_version']}); upgrade"
            )
        ap = path / "arrays.npz"
        if not ap.is_file():
            raise UserError(f"{path} is missing arrays.npz; rebuild the index")
        try:
            with np.load(ap, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:  # truncated or damaged
            raise UserError(f"{ap} is damaged or truncated ({type(e).__name__}: {e}); rebuild the index with "
                            "`ugbench search build ... --overwrite`") from None
        missing = [k for k in ("vectors", "coords", "ids") if k not in a]
        if missing:
            raise UserError(f"{ap} lacks the arrays {missing}; rebuild the index with `ugbench search build ... "
                            "--overwrite`")
        if a["vectors"].shape != (header["n"], header["dim"]):
            raise UserError(
                f"{ap} holds vectors of shape {a['vectors'].shape}, header says ({header['n']}, {header['dim']})"
            )
        gmr = GMRTree.from_arrays(a) if header.get("has_gmr") else None
        return cls(
            header["metric"],
            a["vectors"],
            a["coords"],
            a["ids"],
            CoClusters.from_arrays(a),
            gmr,
            a.get("object_ids"),
            header.get("meta", {}),
        )
