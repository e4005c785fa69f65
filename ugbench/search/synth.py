"""Synthetic geo-multimedia corpora with topic clusters and spatial autocorrelation (benchmarks, tests).

The generator (documented in docs/search.md) mimics what makes real street-view embeddings hard to index:

- Locations (lon, lat) in a square city area (default 40 km x 40 km around Beijing's centre, StreetSem's
  city): 70% of objects around `n_hotspots` Gaussian hotspots (sigma 200-1500 m, Zipf-like weights: dense
  districts), 30% uniform over the area (sparse background).
- Semantics: `n_topics` random unit topic directions in `dim` dimensions. Each hotspot prefers 3 topics
  (Dirichlet weights); background objects draw a topic uniformly. Every hotspot also owns a "place"
  direction shared by its objects: neighbouring objects look alike (spatial autocorrelation).
- Object vector = normalise(0.3 g + 0.7 topic + 0.4 place + 0.5 noise / |noise|) with g one direction common
  to all objects (real embedding spaces are anisotropic). Expected cosines: same topic and place ~0.75,
  same topic elsewhere ~0.6, same place other topic ~0.25, unrelated ~0.1.
- Queries: a location drawn from the objects' locations (as the paper's workload) jittered by up to 200 m,
  and a text-like vector normalise(0.3 g + 0.7 topic + 0.5 noise) for a random topic (no place component).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

M_PER_DEG_LAT = 111_320.0


@dataclass
class SynthCorpus:
    coords: np.ndarray  # (n, 2) lon, lat degrees
    vectors: np.ndarray  # (n, dim) float32, unit rows
    topics: np.ndarray  # (n,) topic of each object
    query_coords: np.ndarray
    query_vectors: np.ndarray
    query_topics: np.ndarray


def make_corpus(
    n: int,
    dim: int = 768,
    n_queries: int = 100,
    *,
    n_topics: int = 64,
    n_hotspots: int = 300,
    extent_km: float = 40.0,
    center: tuple[float, float] = (116.397, 39.909),
    seed: int = 0,
) -> SynthCorpus:
    rng = np.random.default_rng(seed)
    lon0, lat0 = center
    m_per_deg_lon = M_PER_DEG_LAT * np.cos(np.radians(lat0))
    half = extent_km * 500.0  # metres

    def to_deg(xy_m: np.ndarray) -> np.ndarray:
        return np.stack([lon0 + xy_m[:, 0] / m_per_deg_lon, lat0 + xy_m[:, 1] / M_PER_DEG_LAT], axis=1)

    hot_xy = rng.uniform(-half * 0.9, half * 0.9, size=(n_hotspots, 2))
    hot_sigma = rng.uniform(200.0, 1500.0, size=n_hotspots)
    hot_w = 1.0 / np.arange(1, n_hotspots + 1) ** 0.7
    hot_w /= hot_w.sum()
    hot_topics = rng.integers(0, n_topics, size=(n_hotspots, 3))
    hot_topic_w = rng.dirichlet(np.ones(3), size=n_hotspots)

    n_hot = int(round(0.7 * n))
    hs = rng.choice(n_hotspots, size=n_hot, p=hot_w)
    xy_hot = hot_xy[hs] + rng.normal(size=(n_hot, 2)) * hot_sigma[hs, None]
    xy_bg = rng.uniform(-half, half, size=(n - n_hot, 2))
    xy = np.clip(np.concatenate([xy_hot, xy_bg]), -half, half)
    # background objects belong to the nearest hotspot's "place" (autocorrelation) but draw any topic
    d2 = ((xy_bg[:, None, :] - hot_xy[None, :, :]) ** 2).sum(-1) if len(xy_bg) else np.zeros((0, n_hotspots))
    hs_all = np.concatenate([hs, d2.argmin(axis=1) if len(xy_bg) else np.zeros(0, dtype=int)])
    u = rng.random(n_hot)
    pick = (u[:, None] > np.cumsum(hot_topic_w[hs], axis=1)).sum(axis=1).clip(0, 2)
    topics = np.concatenate([hot_topics[hs, pick], rng.integers(0, n_topics, size=n - n_hot)])

    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    g = unit(rng.normal(size=dim))
    topic_dirs = unit(rng.normal(size=(n_topics, dim)))
    place_dirs = unit(rng.normal(size=(n_hotspots, dim)))
    vectors = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 65536):  # chunked: the float64 temporaries of 465k x 768 would need 3 GB
        e = min(n, s + 65536)
        noise = unit(rng.normal(size=(e - s, dim)))
        v = 0.3 * g + 0.7 * topic_dirs[topics[s:e]] + 0.4 * place_dirs[hs_all[s:e]] + 0.5 * noise
        vectors[s:e] = unit(v).astype(np.float32)
    perm = rng.permutation(n)  # no generator order leaks into object ids
    coords = to_deg(xy)[perm]
    vectors, topics = vectors[perm], topics[perm]

    qi = rng.integers(0, n, size=n_queries)
    jitter = rng.uniform(-200.0, 200.0, size=(n_queries, 2))
    q_coords = coords[qi] + jitter / np.array([m_per_deg_lon, M_PER_DEG_LAT])
    q_topics = rng.integers(0, n_topics, size=n_queries)
    q_vecs = unit(0.3 * g + 0.7 * topic_dirs[q_topics] + 0.5 * unit(rng.normal(size=(n_queries, dim))))
    return SynthCorpus(coords, vectors, topics, q_coords, q_vecs.astype(np.float32), q_topics)
