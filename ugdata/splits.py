"""Spatially blocked splits (default) and held-out-city splits, with a leakage buffer.

Random splits leak: two photos 10 m apart land in train and test. Here the plane is cut into square blocks
(`block_m`, local equirectangular metres per city); blocks are ordered by a seeded hash and dealt to test,
then val, until each holds its share of views, and the rest go to train. Then a buffer: a train view within
`buffer_m` of a val/test view, or a val view within `buffer_m` of a test view, is removed and reported in
rejects (stage "split"), never dropped silently. All views of one point share a block, hence a split.

Held-out cities (one or several, as in the paper's train-city / held-out-city protocol): each is entirely test;
the other cities are blocked into train and val only (val takes the val + test share), so that every test view
lies in a city the training never saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ugcore.geo import EARTH_RADIUS_M


def local_xy(lat, lon, lat0: float, lon0: float) -> np.ndarray:
    """Equirectangular metres around (lat0, lon0): exact enough (<0.5 %) at city scale for blocks/buffers."""
    lat, lon = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    x = EARTH_RADIUS_M * np.cos(np.radians(lat0)) * (lon - np.radians(lon0))
    y = EARTH_RADIUS_M * (lat - np.radians(lat0))
    return np.column_stack([x, y])


def _hash01(*parts) -> float:
    h = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def assign_splits(
    views: pd.DataFrame,
    *,
    seed: int,
    block_m: float = 200.0,
    buffer_m: float = 30.0,
    val_frac: float = 0.1,
    test_frac: float = 0.15,
    holdout_city: str | Iterable[str] | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Return (split per row, blocked rows with reasons). `views` needs lat, lon, city. `holdout_city`: one
    city name or several; those cities are all test, the others train/val."""
    held = set() if holdout_city is None else {holdout_city} if isinstance(holdout_city, str) else set(holdout_city)
    split = pd.Series("train", index=views.index, dtype=object)
    block_key = pd.Series("", index=views.index, dtype=object)
    for city, g in views.groupby("city", sort=True):
        xy = local_xy(g.lat, g.lon, float(g.lat.mean()), float(g.lon.mean()))
        bx = np.floor(xy[:, 0] / block_m).astype(np.int64)
        by = np.floor(xy[:, 1] / block_m).astype(np.int64)
        keys = pd.Series([f"{city}:{a}:{b}" for a, b in zip(bx, by, strict=True)], index=g.index)
        block_key.loc[g.index] = keys
        if city in held:
            split.loc[g.index] = "test"
            continue
        fracs = ([("val", val_frac + test_frac)] if held
                 else [("test", test_frac), ("val", val_frac)])
        sizes = keys.value_counts()
        order = sorted(sizes.index, key=lambda k: _hash01(seed, k))
        n = len(g)
        assign: dict[str, str] = {}
        i = 0
        for name, frac in fracs:
            got = 0
            while i < len(order) - 1 and got < frac * n:
                assign[order[i]] = name
                got += int(sizes[order[i]])
                i += 1
        for k in order[i:]:
            assign[k] = "train"
        split.loc[g.index] = keys.map(assign).to_numpy()
    # leakage buffer
    blocked = pd.Series(False, index=views.index)
    reason = pd.Series("", index=views.index, dtype=object)
    if buffer_m > 0:
        for _city, g in views.groupby("city", sort=True):
            xy = local_xy(g.lat, g.lon, float(g.lat.mean()), float(g.lon.mean()))
            s = split.loc[g.index].to_numpy()
            for low, highs in (("val", ("test",)), ("train", ("val", "test"))):
                keep_low = (s == low) & ~blocked.loc[g.index].to_numpy()
                for high in highs:
                    hi = (s == high) & ~blocked.loc[g.index].to_numpy()
                    if not hi.any() or not keep_low.any():
                        continue
                    d, _ = cKDTree(xy[hi]).query(xy[keep_low], k=1)
                    bad = np.flatnonzero(keep_low)[d < buffer_m]
                    idx = g.index[bad]
                    blocked.loc[idx] = True
                    reason.loc[idx] = f"{low} view within {buffer_m:g} m of a {high} view (spatial split buffer)"
                    keep_low = (s == low) & ~blocked.loc[g.index].to_numpy()
    rejects = pd.DataFrame({"reason": reason[blocked]})
    return split, rejects


def leakage_report(views: pd.DataFrame, buffer_m: float) -> list[str]:
    """Problems found: views of different splits closer than buffer_m (same city)."""
    problems = []
    for city, g in views.groupby("city", sort=True):
        xy = local_xy(g.lat, g.lon, float(g.lat.mean()), float(g.lon.mean()))
        s = g.split.to_numpy()
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            ma, mb = s == a, s == b
            if not ma.any() or not mb.any():
                continue
            d, j = cKDTree(xy[mb]).query(xy[ma], k=1)
            close = d < buffer_m - 1e-6
            if close.any():
                i = int(np.argmin(d))
                problems.append(
                    f"{city}: {int(close.sum())} {a} views within {buffer_m:g} m of a {b} view "
                    f"(e.g. {g.image_id.iloc[np.flatnonzero(ma)[i]]} is {d[i]:.1f} m from "
                    f"{g.image_id.iloc[np.flatnonzero(mb)[j[i]]]})"
                )
    return problems
