"""Geo-prior baseline (location only): embeds an item's coordinates when the task lets the model see them.

The harness sets EncodeItem.lat/lon only where location is not the answer (documents that ARE locations,
perception items), never on queries. Features: the unit vector on the sphere (3 dims, so cosine similarity
falls with great-circle distance) plus sin/cos of the local east/north position at wavelengths from 100 m to
10 km (multi-scale, for linear probes). Items without coordinates get all-zero vectors (chance).
"""

from __future__ import annotations

import numpy as np

from ugcore.protocol import ModelMeta

from .registry import register

WAVELENGTHS_M = (100.0, 300.0, 1000.0, 3000.0, 10000.0)
METRES_PER_DEG = 111_195.0
DIM = 3 + 4 * len(WAVELENGTHS_M)


class GeoPriorEncoder:
    def __init__(self):
        self.meta = ModelMeta(
            name="geo-prior",
            revision="v1",
            n_parameters=0,
            embed_dim=DIM,
            modalities=["location"],
            pooling="none",
            normalized=False,
            license="apache-2.0",
            adapter="geo-prior",
            framework=["numpy"],
        )

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        out = np.zeros((len(items), DIM), dtype=np.float32)
        for i, it in enumerate(items):
            if it.lat is None or it.lon is None:
                continue
            la, lo = np.radians(it.lat), np.radians(it.lon)
            feats = [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]
            north = it.lat * METRES_PER_DEG
            east = it.lon * METRES_PER_DEG * np.cos(la)
            for w in WAVELENGTHS_M:
                feats += [
                    np.sin(2 * np.pi * north / w),
                    np.cos(2 * np.pi * north / w),
                    np.sin(2 * np.pi * east / w),
                    np.cos(2 * np.pi * east / w),
                ]
            out[i] = np.asarray(feats, dtype=np.float32) / np.sqrt(1 + 2 * len(WAVELENGTHS_M))
        return out


@register(
    "geo-prior", aliases=["geoprior", "location-only"], description="location-only baseline (item lat/lon)"
)
def load(name_or_path: str, *, device=None, **_):
    return GeoPriorEncoder()
