"""Geodesic helpers on WGS84 used everywhere (vectorised with numpy).

haversine distances use the mean Earth radius 6,371,008.8 m (the `haversine` package's value), so they
agree with it; bearings are initial great-circle bearings, degrees clockwise from north in [0, 360).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
COMPASS8 = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def haversine_m(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    dlat = lat2 - lat1
    dlon = lon2 - lon1
    a = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def bearing_deg(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    dlon = lon2 - lon1
    x = np.sin(dlon) * np.cos(lat2)
    y = np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(dlon)
    return (np.degrees(np.arctan2(x, y)) + 360.0) % 360.0


def compass8(bearing) -> str | np.ndarray:
    """8-way compass direction of a bearing (N covers [337.5, 22.5))."""
    b = np.asarray(bearing, dtype=np.float64)
    idx = (np.floor(((b % 360.0) + 22.5) / 45.0).astype(int)) % 8
    if idx.ndim == 0:
        return COMPASS8[int(idx)]
    return np.array(COMPASS8)[idx]
