"""Backbone adapters: how uge reaches a VLM (see uge.model.BackboneAdapter for the interface).

backbone.name_or_path forms:
- a hub id of a supported family ("Qwen/Qwen2-VL-2B-Instruct") or a local folder holding one,
- a backbone config name from ugcore/backbones/configs/ ("qwen2-vl-2b", or "tiny-qwen2-vl": a random-weight tiny
  backbone built offline from its seeded config, identical on every machine),
- "adapter:<module>:<callable>": a user-supplied adapter factory, called with the BackboneConfig
  (bring-your-own backbone; the trainer's tests use a 30k-parameter stand-in this way).

Both of the first two go through ugcore.backbones (the shared VLM layer), so the prompt
format, processor and pooling are byte-identical between training (uge) and evaluation (ugbench).
"""

from __future__ import annotations

from typing import Any

from ugcore.errors import UserError
from ugcore.imports import import_attr

from .config import BackboneConfig

ADAPTER_SCHEME = "adapter:"


def _factory(spec: str):
    target = spec[len(ADAPTER_SCHEME):]
    if ":" not in target:
        raise UserError(f"backbone.name_or_path '{spec}': write adapter:<module>:<callable>")
    return import_attr(target, what=f"backbone.name_or_path {spec!r}: factory")


def check_backbone(cfg: BackboneConfig) -> None:
    """Cheap check (no weights loaded) that the backbone is one we can load; UserError otherwise."""
    name = cfg.name_or_path
    if name.startswith(ADAPTER_SCHEME):
        _factory(name)
        return
    from .vlm_adapter import check_vlm_name

    check_vlm_name(name)


def load_adapter(cfg: BackboneConfig, *, device: str | None = None) -> Any:
    """Load the backbone and return a BackboneAdapter (tiny backbones are rebuilt from their seeded config)."""
    name = cfg.name_or_path
    if name.startswith(ADAPTER_SCHEME):
        return _factory(name)(cfg)
    from .vlm_adapter import VLMAdapter

    return VLMAdapter.load(cfg, device=device)
