"""Geolocation metrics from the top-1 choice: the distance between the predicted and the true location.

- median_error_m: median haversine distance (metres, mean Earth radius 6,371,008.8 m) over queries
- mean_error_m:   its mean
- acc@{t}m:       fraction of queries with distance <= t metres, t in GEO_THRESHOLDS_M (25 m .. 5 km:
                  street-scale radii 25/50/100/250/500 m, plus 1 km / 5 km, the StreetSem paper's
                  within-1 km / 5 km shares)
- geoscore@1km:   mean of 5000 * exp(-d / GEOSCORE_TAU_M), d in metres, GEOSCORE_TAU_M = 1,000 m: a CITY-scale
                  GeoScore in [0, 5000] (see below)

Why a city-scale GeoScore with tau = 1 km: OSV-5M's GeoScore 5000 * exp(-d / 1492.7 km) is GeoGuessr's score,
whose scale is one tenth of the size of the map being played (the world map's 14,916.862 km / 10). That scale
makes every street-level error score ~5000 and says nothing at city scale. The same rule applied to a city
(a map ~10 km across) gives tau = 1 km: an error of 100 m scores 4524, 250 m 3894, 1 km 1839, 5 km 34. So the
score stays informative across the range of errors a street-to-city benchmark produces (metres between
neighbouring view points up to kilometres across a city); it is a smooth companion of the acc@t shares, not a
replacement. The scale is fixed (not the data's own extent) so that scores are comparable across cities; it is
in the metric's name so it can never be mistaken for OSV-5M's world-scale score.

Ties at the top (ugcore.ranking's rule): when several documents share the best score, the top-1 choice is
each of them with equal probability, so a query's error is its EXPECTED error (the mean distance to the tied
documents), its acc@t the share of them within t and its GeoScore the mean of their GeoScores;
`geo_metrics_expected` takes these per-query values. median_error_m is then the median over queries of the
per-query expected error. Without ties this is exactly `geo_metrics` of the one top-1 document.
"""

from __future__ import annotations

import numpy as np

from ugcore.geo import haversine_m

GEO_THRESHOLDS_M: tuple[int, ...] = (25, 50, 100, 250, 500, 1000, 5000)
GEOSCORE_MAX = 5000.0
GEOSCORE_TAU_M = 1000.0
GEOSCORE_NAME = "geoscore@1km"  # carries its scale: tau = GEOSCORE_TAU_M


def geoscore(error_m) -> np.ndarray:
    """City-scale GeoScore of errors in metres: 5000 * exp(-d / 1000 m) (module docstring: why this scale)."""
    return GEOSCORE_MAX * np.exp(-np.asarray(error_m, dtype=np.float64) / GEOSCORE_TAU_M)


def geo_metrics(true_lat, true_lon, pred_lat, pred_lon) -> dict[str, float]:
    """Geo metrics of one top-1 document per query."""
    d = np.atleast_1d(haversine_m(true_lat, true_lon, pred_lat, pred_lon))
    return geo_metrics_expected(d, d[:, None] <= np.asarray(GEO_THRESHOLDS_M)[None, :], geoscore(d))


def top_tie_geo(true_lat: float, true_lon: float, doc_lat, doc_lon) -> tuple[float, np.ndarray, float]:
    """One query whose top-1 is tied among documents at (doc_lat, doc_lon): (expected error in metres,
    share of them within each GEO_THRESHOLDS_M radius, expected GeoScore). The distances are summed in sorted
    order, so the values do not depend, even in the last bit, on the order of the tied documents."""
    d = np.sort(np.atleast_1d(haversine_m(true_lat, true_lon, np.asarray(doc_lat), np.asarray(doc_lon))))
    return (float(np.mean(d)), np.mean(d[:, None] <= np.asarray(GEO_THRESHOLDS_M)[None, :], axis=0),
            float(np.mean(geoscore(d))))


def geo_metrics_expected(error_m, within, geoscores=None) -> dict[str, float]:
    """From per-query expected errors (Q,), within-radius probabilities (Q, len(GEO_THRESHOLDS_M)) and
    expected GeoScores (Q,); without `geoscores` (callers holding one error per query) they are computed
    from the errors, which is exact only when no query's top-1 is tied."""
    d = np.atleast_1d(np.asarray(error_m, dtype=np.float64))
    if d.size == 0:
        raise ValueError("no queries to score")
    if not np.all(np.isfinite(d)):
        raise ValueError("geo metrics need finite coordinates for every query and its top-1 document")
    w = np.asarray(within, dtype=np.float64).reshape(len(d), len(GEO_THRESHOLDS_M))
    gs = geoscore(d) if geoscores is None else np.atleast_1d(np.asarray(geoscores, dtype=np.float64))
    out = {"median_error_m": float(np.median(d)), "mean_error_m": float(np.mean(d))}
    for j, t in enumerate(GEO_THRESHOLDS_M):
        out[f"acc@{t}m"] = float(np.mean(w[:, j]))
    out[GEOSCORE_NAME] = float(np.mean(gs))
    return out
