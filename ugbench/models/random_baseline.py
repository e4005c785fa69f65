"""Random baseline: a seeded Gaussian vector per item. Scores at chance (Hit@1 ~ 1/|candidates|).

Deterministic per item (seeded by (seed, item digest)), not per call order, so caching, batching and
sharding cannot change its scores.
"""

from __future__ import annotations

import numpy as np

from ugcore.protocol import ModelMeta

from ._common import item_digest
from .registry import register


class RandomEncoder:
    def __init__(self, dim: int = 64, seed: int = 0):
        self.dim = int(dim)
        self.seed = int(seed)
        self.meta = ModelMeta(
            name="random",
            revision=f"seed{seed}-dim{dim}",
            n_parameters=0,
            embed_dim=self.dim,
            modalities=["text", "image", "graph"],
            pooling="none",
            normalized=False,
            license="apache-2.0",
            adapter="random",
            framework=["numpy"],
        )

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for i, it in enumerate(items):
            seed = int.from_bytes(item_digest(it)[:8], "little") ^ self.seed
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out


@register("random", aliases=["random-baseline"], description="seeded random vectors (chance level)")
def load(name_or_path: str, *, device=None, dim: int = 64, seed: int = 0, **_):
    return RandomEncoder(dim=dim, seed=seed)
