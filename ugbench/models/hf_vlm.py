"""Hugging Face VLM embedders (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Phi-3-Vision; MiniLM-VLM) pooled as their family says.

Everything model-specific lives in the shared backbone layer (vlm_backbone.py); this adapter only maps
ugbench's EncodeItem batches and per-task instructions onto it and fills ModelMeta.

Accepted `--model` values: a hub id of a supported family ("Qwen/Qwen2-VL-2B-Instruct"), a local model
folder, a LoRA adapter folder saved by the backbone layer, a backbone config name from ugcore/backbones/configs
("qwen2-vl-2b", ... the offline tiny ones "tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-llava-next", and "minilm-vlm",
built offline from the installed all-MiniLM-L6-v2).
Options: adapter=PATH (peft LoRA), dtype, device, prompt_style ("chat" | "gme" | "vlm2vec"),
padding_side ("left" | "right"), seed (tiny configs), cache_dir (HF hub cache to look in).

GME and VLM2Vec checkpoints (Qwen2-VL based) load through the same path:
- GME (Alibaba-NLP/gme-Qwen2-VL-2B-Instruct / -7B): prompt_style "chat" (= "gme", the default): the task
  instruction is the system message ("You are a helpful assistant." when none), the user turn holds the
  image then the text, "<|endoftext|>" follows the assistant header and is the pooled token; L2-normalised.
  Give instructions such as "Find an image that matches the given text." on the query side and none on the
  document side, as GME's model card does.
- VLM2Vec (TIGER-Lab/VLM2Vec-Qwen2VL-2B / -7B; VLM2Vec-Full is Phi-3.5-V): prompt_style "vlm2vec": no chat
  template, "<image> {instruction} {text}" with instructions such as "Represent the given image with the
  following question:" on the query side; last token, L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ugbench.models.registry import register
from ugcore.backbones import Backbone, configs_dir, is_vlm_source, load_backbone
from ugcore.errors import UserError
from ugcore.protocol import EncodeItem, ModelMeta, Side

_OPTIONS = {"adapter", "adapter_path", "dtype", "device", "prompt_style", "padding_side", "seed", "cache_dir"}


class HFVLMEncoder:
    """EncoderProtocol over a Backbone: one embedding per item, pooled as its family says, L2-normalised."""

    def __init__(self, backbone: Backbone, *, requested: str, adapter: str | None) -> None:
        self.backbone = backbone
        cfg = backbone._resolved.config if backbone._resolved else {}
        hub = backbone.hub_id
        self.meta = ModelMeta(
            name=backbone.name if adapter is None else f"{backbone.name}+{Path(adapter).name}",
            revision=_cache_revision(backbone),
            n_parameters=backbone.n_parameters(),
            embed_dim=backbone.hidden_size,
            modalities=["text", "image"],
            pooling="mean" if backbone.family.pooling == "mean" else "last_token",  # the family's
            normalized=True,
            license=cfg.get("license"),
            reference=f"https://huggingface.co/{hub}" if hub else None,
            adapter="hf-vlm",
            framework=["transformers", "peft"]
            if adapter or backbone._resolved.adapter_path
            else ["transformers"],
            extra={
                "family": backbone.family.name,
                "requested": requested,
                "source": backbone.source,
                "prompt_style": backbone.prompt_style,
                "padding_side": backbone.tokenizer.padding_side,
                "dtype": str(backbone.dtype).removeprefix("torch."),
                "lora_adapter": backbone._resolved.adapter_path if backbone._resolved else adapter,
            },
        )

    def encode(
        self,
        items: Sequence[EncodeItem],
        *,
        task_name: str,
        side: Side,
        instruction: str | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        for i, it in enumerate(items):
            if it.text is None and it.image is None:
                raise UserError(
                    f"model {self.meta.name}, task {task_name} ({side}): item {i} (id {it.id}) has neither "
                    "text nor image; this VLM embeds text and images only (no graph input)"
                )
        # Sort by rough prompt size so batches pad little; embeddings do not depend on batch composition
        # (padding-invariant pooling, tested), and the order is restored below.
        order = sorted(
            range(len(items)), key=lambda i: (items[i].image is not None, len(items[i].text or ""))
        )
        out = np.zeros((len(items), self.backbone.hidden_size), dtype=np.float32)
        bs = max(1, int(batch_size))
        with torch.inference_mode():
            self.backbone.model.eval()
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                batch = [(items[i].text, items[i].image) for i in idx]
                out[idx] = self.backbone.embed(batch, instruction).cpu().numpy()
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise UserError(
                f"model {self.meta.name}, task {task_name} ({side}): {int(bad.sum())} non-finite embedding(s), "
                f"first item {first} (id {items[first].id}); try dtype=float32 (now {self.meta.extra['dtype']})"
            )
        return out


def _cache_revision(bb: Backbone) -> str:
    """The weights' revision plus the settings that change embeddings (prompt style, reduced precision), so
    ugbench's embedding cache, keyed by revision, never mixes runs made with different settings."""
    parts = [bb.revision]
    if bb.prompt_style != "chat":
        parts.append(bb.prompt_style)
    if bb.dtype != torch.float32:
        parts.append(str(bb.dtype).removeprefix("torch."))
    return "+".join(parts)


def load(name_or_path: str, **options: Any) -> HFVLMEncoder:
    """Registry loader: see the module docstring for accepted names and options."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise UserError(
            f"hf-vlm: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_OPTIONS))}"
        )
    if name_or_path in ("hf-vlm", "vlm"):
        raise UserError(
            "hf-vlm needs a model: pass a hub id (Qwen/Qwen2-VL-2B-Instruct), a local VLM or adapter folder, or a "
            "backbone config name (see `ugbench list-models`), e.g. --model tiny-qwen2-vl"
        )
    adapter = options.get("adapter") or options.get("adapter_path")
    bb = load_backbone(
        name_or_path,
        dtype=options.get("dtype"),
        device=options.get("device"),
        adapter_path=adapter,
        padding_side=options.get("padding_side", "left"),
        prompt_style=options.get("prompt_style"),
        seed=int(options.get("seed", 0)),
        cache_dir=options.get("cache_dir"),
    )
    return HFVLMEncoder(bb, requested=name_or_path, adapter=adapter)


register(
    "hf-vlm",
    aliases=["vlm"],
    description="Hugging Face VLM embedders (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Phi-3-V; GME, VLM2Vec), "
    "last-token pooling (MiniLM-VLM: mean), optional LoRA adapter",
    matches=is_vlm_source,
    priority=10,
)(load)


def _register_configs() -> None:
    """Every ugcore/backbones/configs/*.yaml name is a model name ("tiny-qwen2-vl", "qwen2-vl-2b", ...)."""
    import yaml

    for yaml_path in sorted(configs_dir().glob("*.yaml")):
        try:
            cfg = yaml.safe_load(yaml_path.read_text()) or {}
        except yaml.YAMLError:
            cfg = {}  # reported with the file name when the model is loaded
        if cfg.get("tiny"):
            desc = f"tiny random-weight {cfg.get('family', 'VLM')}, built offline (tests)"
        elif cfg.get("build"):
            desc = f"{cfg.get('description') or cfg.get('family', 'VLM')}, built offline"
        else:
            desc = f"{cfg.get('hub_id', 'VLM')} ({cfg.get('prompt_style', 'chat')} prompt)"
        register(yaml_path.stem, description=desc)(load)


_register_configs()
