"""Urban perception probes on OSM-derived proxies (see ugdata.semantics for their definitions).

targets.parquet: one row per view (all splits) with the proxy values and a spatially blocked `fold`
(0-4, by 200 m block hash) so probes can cross-validate without neighbours leaking across folds.
pairs.parquet: Place-Pulse-style pairwise comparisons within a split: for an attribute, which of two views
scores higher (label 1.0 = image_a), sampled only where the proxies differ by at least 0.1.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ugdata.format import TaskSpec
from ugdata.semantics import PERCEPTION_KEYS
from ugdata.splits import local_xy
from ugdata.tasks.common import TaskInputs, TaskOutput
from ugdata.tasks.registry import register_builder

NAME = "perception_osm"
N_FOLDS = 5
FOLD_BLOCK_M = 200.0


def spatial_folds(v: pd.DataFrame, seed: int) -> np.ndarray:
    folds = np.zeros(len(v), dtype=np.int8)
    for _city, g in v.groupby("city", sort=True):
        xy = local_xy(g.lat, g.lon, float(g.lat.mean()), float(g.lon.mean()))
        pos = np.flatnonzero(v.city.to_numpy() == _city)
        for r, (x, y) in zip(pos, xy, strict=True):
            key = f"{seed}|fold|{_city}|{int(np.floor(x / FOLD_BLOCK_M))}|{int(np.floor(y / FOLD_BLOCK_M))}"
            folds[r] = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % N_FOLDS
    return folds


@register_builder(NAME, order=50)
def build(inp: TaskInputs) -> TaskOutput | None:
    v = inp.views.reset_index(drop=True)
    if len(v) < 4:
        return None
    targets = pd.DataFrame({
        "image_id": v.image_id, "split": v.split, "fold": spatial_folds(v, inp.seed),
        "lat": v.lat.astype(float), "lon": v.lon.astype(float), "graph_context": v.graph_context,
    })
    for k in PERCEPTION_KEYS:
        targets[k] = [float(p[k]) for p in v.perception]
    rng = np.random.default_rng(inp.seed + 7)
    pairs = []
    for split, g in targets.groupby("split", sort=True):
        if len(g) < 2:
            continue
        n_pairs = min(4 * len(g), 2000)
        for k in PERCEPTION_KEYS:
            a = rng.integers(len(g), size=n_pairs)
            b = rng.integers(len(g), size=n_pairs)
            va, vb = g[k].to_numpy()[a], g[k].to_numpy()[b]
            ok = (a != b) & (np.abs(va - vb) >= 0.1)
            ia, ib = g.image_id.to_numpy()[a[ok]], g.image_id.to_numpy()[b[ok]]
            pairs.append(pd.DataFrame({"split": split, "attribute": k, "image_a": ia, "image_b": ib,
                                       "label": (va[ok] > vb[ok]).astype(np.float32)}))
    pairs_df = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(
        columns=["split", "attribute", "image_a", "image_b", "label"])
    pairs_df = pairs_df.drop_duplicates(["split", "attribute", "image_a", "image_b"]).reset_index(drop=True)
    pairs_df.insert(0, "pair_id", [f"{NAME}/{i}" for i in range(len(pairs_df))])
    spec = TaskSpec(
        name=NAME, description="Linear probes on frozen image embeddings predicting OSM-derived urban perception proxies "
                    "(greenery, commercial density, street size, building density, ...): regression per "
                    "attribute on train, scored on test, plus pairwise 'which scores higher' accuracy.",
        query_modalities=["image", "graph"], doc_modalities=[],
        instructions={"query": "Represent this street view for judging its urban character."},
        splits=["train", "val", "test"],
        extra={"attributes": list(PERCEPTION_KEYS), "folds": N_FOLDS, "fold_block_m": FOLD_BLOCK_M, "proxies": True},
    )
    return TaskOutput(spec, {"targets": targets, "pairs": pairs_df})
