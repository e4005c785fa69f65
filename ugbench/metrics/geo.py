"""Geolocation metrics from the top-1 choice: the distance between the predicted and the true location.

- median_error_m: median haversine distance (metres, mean Earth radius 6,371,008.8 m) over queries
- mean_error_m:   its mean
- acc@{t}m:       fraction of queries with distance <= t metres, t in GEO_THRESHOLDS_M (50 m .. 5 km:
                  street-scale radii, see docs/ugbench.md)

Ties at the top (ugcore.ranking's rule): when several documents share the best score, the top-1 choice is
each of them with equal probability, so a query's error is its EXPECTED error (the mean distance to the tied
documents) and its acc@t the share of them within t; `geo_metrics_expected` takes these per-query values.
median_error_m is then the median over queries of the per-query expected error. Without ties this is exactly
`geo_metrics` of the one top-1 document.
"""

from __future__ import annotations

import numpy as np

from ugcore.geo import haversine_m

GEO_THRESHOLDS_M: tuple[int, ...] = (50, 100, 500, 1000, 5000)


def geo_metrics(true_lat, true_lon, pred_lat, pred_lon) -> dict[str, float]:
    """Geo metrics of one top-1 document per query."""
    d = np.atleast_1d(haversine_m(true_lat, true_lon, pred_lat, pred_lon))
    return geo_metrics_expected(d, d[:, None] <= np.asarray(GEO_THRESHOLDS_M)[None, :])


def top_tie_geo(true_lat: float, true_lon: float, doc_lat, doc_lon) -> tuple[float, np.ndarray]:
    """One query whose top-1 is tied among documents at (doc_lat, doc_lon): (expected error in metres,
    share of them within each GEO_THRESHOLDS_M radius)."""
    d = np.atleast_1d(haversine_m(true_lat, true_lon, np.asarray(doc_lat), np.asarray(doc_lon)))
    return float(np.mean(d)), np.mean(d[:, None] <= np.asarray(GEO_THRESHOLDS_M)[None, :], axis=0)


def geo_metrics_expected(error_m, within) -> dict[str, float]:
    """From per-query expected errors (Q,) and within-radius probabilities (Q, len(GEO_THRESHOLDS_M))."""
    d = np.atleast_1d(np.asarray(error_m, dtype=np.float64))
    if d.size == 0:
        raise ValueError("no queries to score")
    if not np.all(np.isfinite(d)):
        raise ValueError("geo metrics need finite coordinates for every query and its top-1 document")
    w = np.asarray(within, dtype=np.float64).reshape(len(d), len(GEO_THRESHOLDS_M))
    out = {"median_error_m": float(np.median(d)), "mean_error_m": float(np.mean(d))}
    for j, t in enumerate(GEO_THRESHOLDS_M):
        out[f"acc@{t}m"] = float(np.mean(w[:, j]))
    return out
