"""A small synthetic StreetSem table with real signal, for tests and the demo (no files needed).

Generator: n_places panoramas scattered over a ~`extent_km` square around (lat0, lng0); each has a latent
topic vector t_p (mixture of `n_topics` topic centres, spatially autocorrelated: neighbouring panoramas share
topics by a smooth field), each FoV f adds its own latent u_{p,f} and a direction signature s_f. Then
    image   = A (t_p + u_{p,f} + s_f) + noise
    content = B (t_p + u_{p,f}) + noise
    query_q = B (t_p + u_{p,f}) + C_q + noise_q     (C_q: a per-query-type offset)
with fixed random matrices A (image space) and B (text space). So queries are recoverable from image +
content vectors, FoVs differ from each other, and FoV is predictable from the image vector.
"""

from __future__ import annotations

import numpy as np

from .data import QUERY_TYPES, StreetSemData


def synthetic_streetsem(
    n_places: int = 200,
    *,
    image_dim: int = 48,
    text_dim: int = 32,
    latent_dim: int = 16,
    n_topics: int = 6,
    noise: float = 0.3,
    extent_km: float = 8.0,
    lat0: float = 39.9,
    lng0: float = 116.4,
    fovs_per_place: int = 4,
    seed: int = 0,
) -> StreetSemData:
    rng = np.random.default_rng(seed)
    deg_lat = extent_km / 111.0
    deg_lng = extent_km / (111.0 * np.cos(np.radians(lat0)))
    xy = rng.random((n_places, 2))
    centres = rng.random((n_topics, 2))
    topic_vecs = rng.normal(size=(n_topics, latent_dim))
    w = np.exp(-((xy[:, None, :] - centres[None]) ** 2).sum(-1) / 0.05)
    w /= w.sum(1, keepdims=True)
    t_place = w @ topic_vecs + 0.5 * rng.normal(size=(n_places, latent_dim))
    a = rng.normal(size=(latent_dim, image_dim)) / np.sqrt(latent_dim)
    b = rng.normal(size=(latent_dim, text_dim)) / np.sqrt(latent_dim)
    fov_sig = rng.normal(size=(4, latent_dim))
    q_off = 0.5 * rng.normal(size=(len(QUERY_TYPES), text_dim))
    rows = []
    for p in range(n_places):
        for f in range(fovs_per_place):
            u = 0.8 * rng.normal(size=latent_dim)
            lat_v = t_place[p] + u
            img = (lat_v + fov_sig[f]) @ a + noise * rng.normal(size=image_dim)
            con = lat_v @ b + noise * rng.normal(size=text_dim)
            qs = lat_v @ b + q_off + noise * rng.normal(size=(len(QUERY_TYPES), text_dim))
            rows.append((p, f, img, con, qs))
    lat = lat0 + xy[:, 1] * deg_lat
    lng = lng0 + xy[:, 0] * deg_lng
    pl = np.array([r[0] for r in rows])
    return StreetSemData(
        image=np.array([f"pano{p:05d}" for p in pl], dtype=object),
        fov=np.array([r[1] for r in rows], dtype=np.int64),
        image_vec=np.stack([r[2] for r in rows]).astype(np.float32),
        content_vec=np.stack([r[3] for r in rows]).astype(np.float32),
        query_vec=np.stack([r[4] for r in rows]).astype(np.float32),
        lat=lat[pl],
        lng=lng[pl],
        city=np.array(["synthetic"] * len(rows), dtype=object),
        source={"kind": "synthetic", "seed": seed, "n_places": n_places},
    )
