"""80/10/10 train/val/test splits over (image, fov) pairs, as the StreetSem paper does, or spatially blocked.

`random` (the paper's protocol) shuffles (image, fov) pairs with a seeded generator: the FoVs of one panorama
can land in different splits, which is why CSSR's per-image embedding helps at test time. `spatial` assigns
whole geohash cells (prefix of `block_chars` characters; 6 chars ~ 1.2 x 0.6 km) to one split, so no test
view has a training view in its cell: a harder, leakage-free protocol for generalisation to new areas.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ugcore.errors import UserError

from .data import StreetSemData

SPLIT_NAMES = ("train", "val", "test")


def _cut(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    a = int(round(n * fractions[0]))
    b = int(round(n * (fractions[0] + fractions[1])))
    return a, b


def assign_splits(
    data: StreetSemData,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    mode: str = "random",
    block_chars: int = 6,
) -> StreetSemData:
    """Return `data` with its `split` column set (deterministic in `seed` and the row keys)."""
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise UserError(f"split fractions {fractions} must be non-negative and sum to 1")
    n = len(data)
    split = np.empty(n, dtype=object)
    # Order rows by key first, so the result does not depend on the order the loader read them in.
    order = np.argsort(data.keys.astype(str), kind="stable")
    if mode == "random":
        perm = order[np.random.default_rng(seed).permutation(n)]
        a, b = _cut(n, fractions)
        split[perm[:a]], split[perm[a:b]], split[perm[b:]] = "train", "val", "test"
    elif mode == "spatial":
        cells = np.array([g[:block_chars] for g in data.geohash.astype(str)], dtype=object)
        uniq = sorted(set(cells.tolist()))
        # Hash each cell with the seed: a stable shuffle of cells independent of numpy's RNG stream.
        uniq.sort(key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
        counts = {c: 0 for c in uniq}
        for c in cells:
            counts[c] += 1
        a, b = _cut(n, fractions)
        cum, cell_split = 0, {}
        for c in uniq:
            cell_split[c] = "train" if cum < a else ("val" if cum < b else "test")
            cum += counts[c]
        split[:] = [cell_split[c] for c in cells]
    else:
        raise UserError(f"unknown split mode '{mode}'; use 'random' (paper: over (image, fov) pairs) or 'spatial'")
    data.split = split
    return data
