"""Helpers for the backbone tests (a uniquely named module: test folders are not packages)."""

from __future__ import annotations

import numpy as np
from PIL import Image

TINY = ["tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-llava-next"]


def noise_image(h: int, w: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
