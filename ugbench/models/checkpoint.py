"""Model folders that describe their own loader: `ugbench_model.json` = {"loader": "module:function", ...}.

This is how UGE checkpoints (and any other package's) load without ugbench importing that package:
ugbench calls `loader(path: str, device: str | None, **model_options)` (`--model-option KEY=VALUE`, e.g. a UGE
checkpoint's graph_mode=zero) and checks the result against the model protocol.
If the JSON lists `weights` (file names), they must exist before the loader is called.
"""

from __future__ import annotations

import json
from pathlib import Path

from ugcore.errors import UserError

from .custom import check_model, import_attr
from .registry import register

MODEL_JSON = "ugbench_model.json"


def _is_checkpoint(s: str) -> bool:
    return (Path(s).expanduser() / MODEL_JSON).is_file()


@register(
    "checkpoint",
    matches=_is_checkpoint,
    priority=100,
    description=f"a folder with {MODEL_JSON} naming its loader (UGE checkpoints)",
)
def load(name_or_path: str, *, device=None, **options):
    root = Path(name_or_path).expanduser()
    mf = root / MODEL_JSON
    if not mf.is_file():
        raise UserError(f"{root} is not a model checkpoint: it has no {MODEL_JSON}")
    try:
        spec = json.loads(mf.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{mf} is not valid JSON ({e})") from None
    loader = spec.get("loader") if isinstance(spec, dict) else None
    if not isinstance(loader, str) or ":" not in loader:
        raise UserError(f'{mf} needs "loader": "module:function" (e.g. "uge.embedder:load_checkpoint")')
    missing = [w for w in spec.get("weights", []) if not (root / w).exists()]
    if missing:
        raise UserError(
            f"checkpoint {root} has no weights: {', '.join(missing)} missing (listed in {MODEL_JSON})"
        )
    fn = import_attr(loader)
    if options:
        import inspect

        params = inspect.signature(fn).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = sorted(k for k in options if k not in params or k in ("path", "device")) if not takes_any else []
        if unknown:
            known = sorted(k for k in params if k not in ("path", "device") and params[k].kind
                           is not inspect.Parameter.VAR_POSITIONAL)
            raise UserError(f"checkpoint {root} ({loader}) takes no model option {', '.join(unknown)}; "
                            f"its options: {', '.join(known) or 'none'}")
    try:
        model = fn(str(root), device=device, **options)
    except UserError:
        raise
    except (FileNotFoundError, OSError, ValueError, KeyError) as e:
        raise UserError(
            f"checkpoint {root} could not be loaded by {loader}: {type(e).__name__}: {e}"
        ) from None
    return check_model(model, f"checkpoint {root} ({loader})")


def _is_unclaimed_dir(s: str) -> bool:
    return Path(s).expanduser().is_dir()


@register(
    "folder",
    matches=_is_unclaimed_dir,
    priority=-100,
    description="(fallback) explains why a folder is not a loadable model",
)
def not_a_model(name_or_path: str, **_):
    raise UserError(
        f"{name_or_path} is a folder but not a model ugbench can load: it has no {MODEL_JSON} (checkpoints), "
        "modules.json (sentence-transformers) or config.json of a supported family (CLIP, SigLIP, VLMs)"
    )
