"""Adapter: a trained CSSR checkpoint directory (`ugbench streetsem train --out DIR`) as a ugbench model.

`ugbench evaluate --model DIR` resolves here when DIR holds ugbench_model.json naming CSSR's loader. The
generic `checkpoint` adapter (priority 100) would load it the same way; this one outranks it (110) so results
name the `cssr` adapter, and `--model cssr` without a folder explains what to pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ugcore.errors import UserError

from .registry import register

CSSR_LOADER = "ugbench.streetsem.model:load_checkpoint"


def is_cssr_checkpoint(name_or_path: str) -> bool:
    p = Path(name_or_path) / "ugbench_model.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("loader") == CSSR_LOADER
    except (OSError, json.JSONDecodeError):
        return False


@register(
    "cssr",
    aliases=("streetsem-cssr",),
    description="CSSR (StreetSem): text query -> street view; pass a checkpoint folder from `ugbench streetsem train`",
    matches=is_cssr_checkpoint,
    priority=110,
)
def load_cssr(name_or_path: str, device: str | None = None, **_: Any):
    if not is_cssr_checkpoint(name_or_path):
        raise UserError(
            f"'{name_or_path}' is not a CSSR checkpoint folder (no ugbench_model.json with loader {CSSR_LOADER}); "
            "train one with `ugbench streetsem train --out DIR` and pass DIR"
        )
    from ugbench.streetsem.model import load_checkpoint

    from .custom import check_model

    return check_model(load_checkpoint(name_or_path, device=device), f"CSSR checkpoint {name_or_path}")
