"""peft LoRA adapters on a backbone: load with checks that make a silent no-op load impossible.

peft's PeftModel.from_pretrained is permissive: adapter keys that match no module are only warned about,
so a wrapper can "load" an adapter and run the bare base model. We therefore (1) refuse a folder without
adapter weights, (2) compare the backbone fingerprint we write next to adapters we save, and (3) after
loading, check that every tensor in the adapter file landed in the model with the same value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ugcore.errors import UserError

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
BACKBONE_RECORD = "ug_backbone.json"  # written beside an adapter by Backbone.save_adapter


def adapter_weights_file(path: Path) -> Path:
    if not path.is_dir():
        raise UserError(
            f"adapter path {path} is not a folder; pass the folder that holds adapter_config.json"
        )
    if not (path / "adapter_config.json").is_file():
        raise UserError(
            f"{path} has no adapter_config.json, so it is not a peft adapter folder; "
            "pass the folder written by save_pretrained of a PeftModel"
        )
    for name in ADAPTER_WEIGHTS:
        if (path / name).is_file():
            return path / name
    raise UserError(
        f"{path} has adapter_config.json but no adapter weights ({' or '.join(ADAPTER_WEIGHTS)}); "
        "the save was incomplete or the weights were not copied"
    )


def read_backbone_record(path: Path) -> dict[str, Any] | None:
    rec = path / BACKBONE_RECORD
    if not rec.is_file():
        return None
    try:
        return json.loads(rec.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{rec}: unreadable ({exc})") from exc


def model_fingerprint(model: Any) -> dict[str, Any]:
    """Shape facts that must agree between the backbone an adapter was trained on and the one it is put on."""
    cfg = model.config
    text = getattr(cfg, "text_config", cfg)
    emb = model.get_input_embeddings()
    return {
        "model_type": cfg.model_type,
        "hidden_size": int(text.hidden_size),
        "num_hidden_layers": int(text.num_hidden_layers),
        "embedding_rows": int(emb.weight.shape[0]),
    }


def _load_state(file: Path) -> dict[str, torch.Tensor]:
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(file))
    return torch.load(str(file), map_location="cpu", weights_only=True)


def load_lora(model: Any, adapter_path: str | Path, *, source: str, trainable: bool) -> Any:
    """Wrap `model` in a PeftModel with the adapter at `adapter_path`, verifying it really applies."""
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict

    path = Path(adapter_path)
    weights = adapter_weights_file(path)
    record = read_backbone_record(path)
    if record is not None and "fingerprint" in record:
        ours = model_fingerprint(model)
        theirs = record["fingerprint"]
        diff = {k: (theirs.get(k), v) for k, v in ours.items() if k in theirs and theirs[k] != v}
        if diff:
            detail = ", ".join(f"{k}: adapter {a} vs backbone {b}" for k, (a, b) in diff.items())
            raise UserError(
                f"adapter {path} was trained on {record.get('base', '?')} and does not match backbone "
                f"{source} ({detail}); load it on its own base model"
            )
    try:
        peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    except (ValueError, RuntimeError, KeyError) as exc:
        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        raise UserError(
            f"adapter {path} (trained on {base}) does not fit backbone {source}: {str(exc).splitlines()[0]}"
        ) from exc
    saved = _load_state(weights)
    live = get_peft_model_state_dict(peft_model)
    missing = sorted(k for k in saved if k not in live)
    if missing or not saved:
        raise UserError(
            f"adapter {path}: {len(missing)} of {len(saved)} saved tensors match no module of backbone "
            f"{source} (e.g. {missing[:2]}); the adapter was trained on a different architecture"
        )
    for key, value in saved.items():
        got = live[key].detach().cpu()
        if got.shape != value.shape or not torch.equal(got, value.to(got.dtype)):
            raise UserError(f"adapter {path}: tensor {key} did not load into backbone {source}")
    return peft_model
