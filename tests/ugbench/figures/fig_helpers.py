"""Helpers of the figure tests (a uniquely named module: `conftest` names clash across test folders).

What every figure test checks of a PNG: it decodes, has the declared pixel size, and is not blank.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ugbench.figures.render import DPI

MODELS = ("alpha-embedder", "beta-embedder", "gamma-partial")


def expected_px(size_in: tuple[float, float]) -> tuple[int, int]:
    return round(size_in[0] * DPI), round(size_in[1] * DPI)


def check_png(path: Path, size_in: tuple[float, float] | None = None, *, min_std: float = 20.0) -> np.ndarray:
    assert path.is_file(), f"{path} was not written"
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        if size_in is not None:
            assert im.size == expected_px(size_in), f"{path}: {im.size} != {expected_px(size_in)}"
        rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert rgb.std() > min_std, f"{path} looks blank (pixel std {rgb.std():.1f})"
    return rgb


def colour_pixels(rgb: np.ndarray, hex_colour: str) -> int:
    """Pixels exactly of `hex_colour` (filled areas are not anti-aliased inside, so they match exactly)."""
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)
    return int(np.all(rgb == target, axis=-1).sum())


def write_run(path: Path, stage: int | None, losses: list[float], *, extra_lines: list[str] = ()) -> Path:
    """A run directory shaped like `uge train`'s: config.yaml (train.stage) + metrics.jsonl."""
    path.mkdir(parents=True, exist_ok=True)
    if stage is not None:
        (path / "config.yaml").write_text(f"train:\n  stage: {stage}\n  output_dir: {path}\n")
    lines = []
    for i, loss in enumerate(losses, 1):
        lines.append(json.dumps({"step": i, "loss": loss, "lr": 1e-4, "accuracy": 0.5}))
        if i % 5 == 0:
            lines.append(json.dumps({"step": i, "eval/hit@1": 0.3}))  # evaluation records carry no loss
    (path / "metrics.jsonl").write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path
