"""Geohash encoding (base32, Niemeyer 2008) for the CSSR geohash tower and spatial split blocks.

Hand-written on purpose: the algorithm is a dozen exactly specified lines, and python-geohash (the paper's
dependency) is a C extension that is not in this environment. Tests check it against published values.
"""

from __future__ import annotations

import numpy as np

BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"


def encode(lat: float, lon: float, precision: int = 10) -> str:
    """Geohash of (lat, lon) with `precision` characters (10 chars ~ 1.2 m x 0.6 m)."""
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        raise ValueError(f"({lat}, {lon}) is not a WGS84 coordinate (lat in [-90, 90], lon in [-180, 180])")
    lat_lo, lat_hi = -90.0, 90.0
    lon_lo, lon_hi = -180.0, 180.0
    out: list[str] = []
    bit, ch, even = 0, 0, True
    while len(out) < precision:
        if even:
            mid = (lon_lo + lon_hi) / 2
            if lon >= mid:
                ch = (ch << 1) | 1
                lon_lo = mid
            else:
                ch <<= 1
                lon_hi = mid
        else:
            mid = (lat_lo + lat_hi) / 2
            if lat >= mid:
                ch = (ch << 1) | 1
                lat_lo = mid
            else:
                ch <<= 1
                lat_hi = mid
        even = not even
        bit += 1
        if bit == 5:
            out.append(BASE32[ch])
            bit, ch = 0, 0
    return "".join(out)


def encode_many(lat, lon, precision: int = 10) -> list[str]:
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    return [encode(float(a), float(b), precision) for a, b in zip(lat, lon, strict=True)]
