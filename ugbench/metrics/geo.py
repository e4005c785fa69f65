"""Geolocation metrics from the top-1 choice: the distance between the predicted and the true location.

- median_error_m: median haversine distance (metres, mean Earth radius 6,371,008.8 m) over queries
- mean_error_m:   its mean
- acc@{t}m:       fraction of queries with distance <= t metres, t in GEO_THRESHOLDS_M (50 m .. 5 km:
                  street-scale radii, see docs/ugbench.md)
"""

from __future__ import annotations

import numpy as np

from ugcore.geo import haversine_m

GEO_THRESHOLDS_M: tuple[int, ...] = (50, 100, 500, 1000, 5000)


def geo_metrics(true_lat, true_lon, pred_lat, pred_lon) -> dict[str, float]:
    d = np.atleast_1d(haversine_m(true_lat, true_lon, pred_lat, pred_lon))
    if d.size == 0:
        raise ValueError("no queries to score")
    if not np.all(np.isfinite(d)):
        raise ValueError("geo metrics need finite coordinates for every query and its top-1 document")
    out = {"median_error_m": float(np.median(d)), "mean_error_m": float(np.mean(d))}
    for t in GEO_THRESHOLDS_M:
        out[f"acc@{t}m"] = float(np.mean(d <= t))
    return out
