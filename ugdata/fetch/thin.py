"""De-duplication and thinning of street-view candidates, before any image is downloaded.

Works on any objects with the attributes id, lat, lon, heading (float | None), sequence (str | None) and
captured_at (a string that sorts in time order, e.g. ISO-8601 UTC, or "") - ViewRecord or a source's own
candidate type. Both functions are deterministic: the result does not depend on the input order.

- `dedup`: the same id twice keeps one; two views within `eps_m` metres whose headings differ by at most
  `eps_deg` degrees (or both unknown) are the same view (re-uploads, overlapping sequences): the first in
  (sequence, captured_at, id) order is kept.
- `thin_sequences`: along each sequence, in (captured_at, id) order, keep a view only when it lies at least
  `min_spacing_m` metres (haversine) from the last kept view of that sequence. Views without a sequence
  are never thinned.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from ugcore.geo import haversine_m

T = TypeVar("T")

_M_PER_DEG_LAT = 111_320.0


def order_key(v: Any) -> tuple[str, str, str]:
    """The deterministic order: sequence, then captured_at, then id (None sorts as "")."""
    return (v.sequence or "", v.captured_at or "", str(v.id))


def _heading_close(a: float | None, b: float | None, eps_deg: float) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or a != a) and (b is None or b != b)
    d = abs((float(a) - float(b)) % 360.0)
    return min(d, 360.0 - d) <= eps_deg


def dedup(items: Iterable[T], *, eps_m: float = 0.5, eps_deg: float = 2.0) -> tuple[list[T], int]:
    """(kept in order_key order, number of duplicates dropped). See module docstring."""
    seen_ids: set[str] = set()
    ordered = sorted(items, key=order_key)
    kept: list[T] = []
    dups = 0
    cell = max(eps_m, 1e-6)
    grid: dict[tuple[int, int], list[T]] = defaultdict(list)
    for v in ordered:
        vid = str(v.id)  # type: ignore[attr-defined]
        if vid in seen_ids:
            dups += 1
            continue
        lat, lon = float(v.lat), float(v.lon)  # type: ignore[attr-defined]
        y = lat * _M_PER_DEG_LAT
        x = lon * _M_PER_DEG_LAT * max(math.cos(math.radians(lat)), 1e-6)
        gx, gy = int(math.floor(x / cell)), int(math.floor(y / cell))
        dup = False
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for o in grid.get((gx + dx, gy + dy), ()):
                    if (float(haversine_m(lat, lon, o.lat, o.lon)) <= eps_m  # type: ignore[attr-defined]
                            and _heading_close(v.heading, o.heading, eps_deg)):  # type: ignore[attr-defined]
                        dup = True
                        break
                if dup:
                    break
            if dup:
                break
        if dup:
            dups += 1
            continue
        seen_ids.add(vid)
        grid[(gx, gy)].append(v)
        kept.append(v)
    return kept, dups


def thin_sequences(items: Sequence[T] | Iterable[T], min_spacing_m: float) -> tuple[list[T], int]:
    """(kept in order_key order, number thinned out). min_spacing_m <= 0 keeps everything."""
    ordered = sorted(items, key=order_key)
    if min_spacing_m <= 0:
        return ordered, 0
    last: dict[str, tuple[float, float]] = {}
    kept: list[T] = []
    thinned = 0
    for v in ordered:
        seq = v.sequence  # type: ignore[attr-defined]
        if not seq:
            kept.append(v)
            continue
        lat, lon = float(v.lat), float(v.lon)  # type: ignore[attr-defined]
        prev = last.get(seq)
        if prev is not None and float(haversine_m(prev[0], prev[1], lat, lon)) < min_spacing_m:
            thinned += 1
            continue
        last[seq] = (lat, lon)
        kept.append(v)
    return kept, thinned
