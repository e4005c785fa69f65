"""The in-memory StreetSem table every loader produces and every trainer/evaluator consumes.

One row per (image, fov) pair, as in the published StreetSem LMDB (key `{image}_{fov}`). `image` is the
panorama (the place: all four FoVs of one panorama share it, and it indexes CSSR's per-image embedding);
`fov` is a class 0..3 (`fov_names` says what each class means for the source: StreetSem uses degrees
0/90/180/270, UGData uses front/right/back/left relative to the street). Vectors stay float32 and their
dimensions are whatever the source holds (1536 in the paper; 384 for MiniLM).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ugcore.errors import DataError

from . import geohash as gh

QUERY_TYPES: tuple[str, ...] = ("atmosphere", "activity", "object", "geography", "creativity")
STREETSEM_FOV_DEGREES: tuple[int, ...] = (0, 90, 180, 270)
N_FOV = 4


@dataclass
class StreetSemData:
    """Columns of the StreetSem table (all arrays have len == n rows)."""

    image: np.ndarray  # str, the panorama / place id
    fov: np.ndarray  # int64 class in [0, 4)
    image_vec: np.ndarray  # float32 (n, d_img)
    content_vec: np.ndarray  # float32 (n, d_txt)
    query_vec: np.ndarray  # float32 (n, 5, d_txt), order QUERY_TYPES
    lat: np.ndarray  # float64
    lng: np.ndarray  # float64
    city: np.ndarray  # str
    geohash: np.ndarray | None = None  # str, 10 chars; None: encoded from lat/lng (StreetSem's LMDB ships its own)
    split: np.ndarray | None = None  # str train|val|test
    content_text: np.ndarray | None = None  # str, the VLM summary (raw / UGData sources only)
    query_text: np.ndarray | None = None  # str (n, 5)
    keys: np.ndarray | None = None  # str, the source key (`{image}_{fov}` or a UGData image_id)
    fov_names: tuple[str, ...] = ("0", "90", "180", "270")
    source: dict[str, Any] = field(default_factory=dict)  # provenance: paths, encoders, dims

    def __post_init__(self) -> None:
        n = len(self.image)
        if self.geohash is None:
            self.geohash = np.array(gh.encode_many(self.lat, self.lng), dtype=object)
        if self.keys is None:
            self.keys = np.array([f"{i}_{int(f) * 90}" for i, f in zip(self.image, self.fov, strict=True)], dtype=object)
        for name in ("fov", "image_vec", "content_vec", "query_vec", "lat", "lng", "geohash", "city", "keys"):
            if len(getattr(self, name)) != n:
                raise DataError(f"StreetSem column '{name}' has {len(getattr(self, name))} rows, expected {n}")
        if self.query_vec.ndim != 3 or self.query_vec.shape[1] != len(QUERY_TYPES):
            raise DataError(f"query vectors must have shape (n, 5, d); got {self.query_vec.shape}")
        if self.query_vec.shape[2] != self.content_vec.shape[1]:
            raise DataError(
                f"query vectors are {self.query_vec.shape[2]}-d but content vectors {self.content_vec.shape[1]}-d; "
                "CSSR's shared text block needs both in one text space"
            )
        if n and (self.fov.min() < 0 or self.fov.max() >= N_FOV):
            raise DataError(f"fov classes must lie in [0, {N_FOV}); got {sorted(set(self.fov.tolist()))}")

    def __len__(self) -> int:
        return len(self.image)

    @property
    def image_dim(self) -> int:
        return int(self.image_vec.shape[1])

    @property
    def text_dim(self) -> int:
        return int(self.content_vec.shape[1])

    def subset(self, idx) -> StreetSemData:
        """Rows `idx` (a boolean mask or integer indices) as a new table."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)

        def take(a):
            return None if a is None else a[idx]

        return replace(
            self,
            image=self.image[idx],
            fov=self.fov[idx],
            image_vec=self.image_vec[idx],
            content_vec=self.content_vec[idx],
            query_vec=self.query_vec[idx],
            lat=self.lat[idx],
            lng=self.lng[idx],
            geohash=self.geohash[idx],
            city=self.city[idx],
            split=take(self.split),
            content_text=take(self.content_text),
            query_text=take(self.query_text),
            keys=self.keys[idx],
        )

    def split_rows(self, name: str) -> StreetSemData:
        if self.split is None:
            raise DataError("this StreetSem table has no split column; call ugdata.streetsem.splits.assign_splits")
        return self.subset(self.split == name)
