"""Adapter: a trained CSSR checkpoint directory (`uge cssr train --out DIR`) as a ugbench model.

`ugbench evaluate --model DIR` resolves here when DIR holds ugbench_model.json naming CSSR's loader (today's,
or the pre-move `ugbench.streetsem.model:load_checkpoint`, which ugcore.imports.MOVED maps to uge.cssr). The
generic `checkpoint` adapter (priority 100) would load it the same way; this one outranks it (110) so results
name the `cssr` adapter, and `--model cssr` without a folder explains what to pass. Loading goes through the
saved loader string, so ugbench does not import uge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ugcore.errors import UserError
from ugcore.imports import MOVED

from .registry import register

CSSR_LOADER = "uge.cssr.model:load_checkpoint"


def _current(loader: str) -> str:
    """A loader string with a moved module named by its new path."""
    mod, _, attr = loader.partition(":")
    return f"{MOVED.get(mod, mod)}:{attr}"


def is_cssr_checkpoint(name_or_path: str) -> bool:
    p = Path(name_or_path) / "ugbench_model.json"
    if not p.is_file():
        return False
    try:
        loader = json.loads(p.read_text()).get("loader")
    except (OSError, json.JSONDecodeError, AttributeError):
        return False
    return isinstance(loader, str) and _current(loader) == CSSR_LOADER


@register(
    "cssr",
    aliases=("streetsem-cssr",),
    description="CSSR (StreetSem): text query -> street view; pass a checkpoint folder from `uge cssr train`",
    matches=is_cssr_checkpoint,
    priority=110,
)
def load_cssr(name_or_path: str, device: str | None = None, **_: Any):
    if not is_cssr_checkpoint(name_or_path):
        raise UserError(
            f"'{name_or_path}' is not a CSSR checkpoint folder (no ugbench_model.json with loader {CSSR_LOADER}); "
            "train one with `uge cssr train --out DIR` and pass DIR"
        )
    from .checkpoint import load

    return load(name_or_path, device=device)
