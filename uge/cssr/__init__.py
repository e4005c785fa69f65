"""CSSR (StreetSem's cross-modal spatial semantic retrieval model) and its trainer: `uge cssr train`.

The data it trains on is ugdata.streetsem (StreetSem LMDB, raw images+texts, UGData); a trained checkpoint
is scored by the benchmark (`ugbench streetsem evaluate`, `ugbench evaluate --model CKPT`) through its
`ugbench_model.json` loader, `uge.cssr.model:load_checkpoint`. See docs/streetsem.md.

Public API (imported on first use, so `uge --help` does not load torch):
    CSSR, CSSRConfig, load_checkpoint      the model (model.py) and the checkpoint loader
    CSSREncoder                            the ugbench-protocol wrapper with the vector API (encoder.py)
    train_cssr, TrainConfig, evaluate_encoder
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"CSSR": "model", "CSSRConfig": "model", "load_checkpoint": "model", "CSSREncoder": "encoder",
          "TrainConfig": "train", "evaluate_encoder": "train", "train_cssr": "train"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
