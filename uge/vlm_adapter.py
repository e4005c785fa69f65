"""BackboneAdapter over ugbench's shared VLM layer (ugcore.backbones).

Using the same Backbone object as ugbench's `hf-vlm` adapter means training and evaluation render prompts,
process images and pool the last token identically. Graph soft tokens go in through the Backbone's embedding
hook (<|graph_pad|> positions between <|graph_start|>/<|graph_end|>); the graph tokens are added in BOTH
stages so that a stage-1 adapter and its stage-2 continuation see the same vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ugcore.errors import UserError

from .config import BackboneConfig


def check_vlm_name(name: str) -> None:
    """Is `name` a backbone we can load? Decided without loading weights (tiny configs are not built)."""
    from ugcore.backbones import configs_dir, is_vlm_source
    from ugcore.backbones.families import FAMILIES, family_from_hub_id

    path = Path(name).expanduser()
    if (configs_dir() / f"{name}.yaml").is_file() or (path.suffix in (".yaml", ".yml") and path.is_file()):
        return
    if path.is_dir():
        if not is_vlm_source(str(path)):
            raise UserError(f"backbone.name_or_path {path} is a folder without a supported VLM (config.json with a "
                            f"model_type of {', '.join(FAMILIES)})")
        return
    if name.count("/") == 1 and family_from_hub_id(name) is not None:
        return
    known = sorted(p.stem for p in configs_dir().glob("*.yaml"))
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(
        f"unknown backbone '{name}'.{hint} Use a hub id of a supported family (Qwen2-VL, Qwen2.5-VL, Phi-3-Vision, "
        f"LLaVA-1.6), a local model folder, or a backbone config name: {', '.join(known)}"
    )


def _dtype(cfg: BackboneConfig) -> str | None:
    return None if cfg.dtype == "auto" else cfg.dtype


class VLMAdapter:
    """uge.model.BackboneAdapter for the Qwen2-VL / Qwen2.5-VL / Phi-3-V / LLaVA-NeXT families."""

    def __init__(self, bb: Any, cfg: BackboneConfig):
        self.bb = bb
        self.cfg = cfg
        self.name = bb.name
        self.hidden_size = bb.hidden_size
        self.bb.add_graph_tokens()
        if cfg.image_min_pixels or cfg.image_max_pixels:
            ip = bb.processor.image_processor
            for attr, val in (("min_pixels", cfg.image_min_pixels), ("max_pixels", cfg.image_max_pixels)):
                if val is not None and hasattr(ip, attr):
                    setattr(ip, attr, val)
                    if isinstance(getattr(ip, "size", None), dict):
                        ip.size["shortest_edge" if attr == "min_pixels" else "longest_edge"] = val

    @property
    def pooling(self) -> str:
        """How embeddings are pooled, in ModelMeta's words: "last_token" or "mean" (the family's)."""
        return "mean" if self.bb.family.pooling == "mean" else "last_token"

    @property
    def node_text(self) -> str:
        """The family's node text feature: "token_mean" (input token embeddings) or "sentence" (frozen LM)."""
        return self.bb.family.node_text

    def node_text_features(self, texts: Sequence[str], max_tokens: int) -> torch.Tensor:
        """(N, H) float32 node text features of the family's kind, from the frozen backbone (cacheable)."""
        return self.bb.text_features(list(texts), max_tokens=max_tokens).float().cpu()

    @classmethod
    def load(cls, cfg: BackboneConfig, *, device: str | None = None) -> VLMAdapter:
        from ugcore.backbones import load_backbone

        bb = load_backbone(cfg.name_or_path, dtype=_dtype(cfg), device=device, trainable=False,
                           attn_implementation=cfg.attn_implementation)
        return cls(bb, cfg)

    @property
    def model(self) -> nn.Module:
        return self.bb.model

    @model.setter
    def model(self, m: nn.Module) -> None:
        self.bb.model = m

    # ------------------------------------------------------------------------------------------ LoRA

    def lora_target(self, modules: Sequence[str], language_model_only: bool) -> str:
        """peft target regex: the family's language-model prefix with our module names."""
        family_re = self.bb.lora_target_modules
        names = "|".join(re.escape(m) for m in modules)
        if not modules:
            return family_re
        if not language_model_only:
            return rf".*\.({names})"
        m = re.match(r"^(.*)\(([^()]*)\)\s*$", family_re)
        if not m:
            raise UserError(f"cannot restrict LoRA to the language model for family {self.bb.family.name}; "
                            "set lora.language_model_only=false")
        return f"{m.group(1)}({names})"

    def apply_lora(self, lora_cfg) -> nn.Module:
        target = self.lora_target(lora_cfg.target_modules, lora_cfg.language_model_only)
        model = self.bb.apply_lora(r=lora_cfg.r, alpha=lora_cfg.alpha, dropout=lora_cfg.dropout, target_modules=target)
        n = sum(1 for n_, _ in model.named_modules() if n_.endswith("lora_A"))
        if n == 0:
            raise UserError(f"lora.target_modules={list(lora_cfg.target_modules)} matched no module of "
                            f"{self.name}; the family's modules are matched by {self.bb.lora_target_modules}")
        return model

    def save_adapter(self, path: str) -> None:
        self.bb.save_adapter(path)

    # ------------------------------------------------------------------------------------------ inputs

    def text_token_ids(self, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
        enc = self.bb.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_tokens)
        return [list(x) for x in enc["input_ids"]]

    def input_embeddings(self, model: nn.Module) -> nn.Embedding:
        return self.bb.input_embeddings

    def _clip(self, text: str | None) -> str | None:
        """Cut a text to backbone.max_length tokens (the processor must not truncate: it would cut image tokens)."""
        if text is None:
            return None
        ids = self.bb.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= self.cfg.max_length else self.bb.tokenizer.decode(ids[: self.cfg.max_length])

    def save_processor(self, path: str) -> None:
        self.bb.processor.save_pretrained(path)

    def prepare(self, inputs: Sequence[Any], n_graph_tokens: Sequence[int]) -> list[tuple[list[int], Any, list[int]]]:
        """Group items by instruction (the Backbone renders one instruction per batch) and process each group."""
        from ugcore.backbones import BackboneItem

        groups: dict[str | None, list[int]] = {}
        for i, x in enumerate(inputs):
            groups.setdefault(x.instruction, []).append(i)
        out = []
        for instr, idx in groups.items():
            items = [BackboneItem(text=self._clip(inputs[i].text), image=inputs[i].image) for i in idx]
            ng = [int(n_graph_tokens[i]) for i in idx]
            out.append((idx, self.bb.prepare(items, instr, n_graph_tokens=ng), ng))
        return out

    def embed(self, model: nn.Module, prepared, graph_tokens: torch.Tensor | None) -> torch.Tensor:
        """Last-token hidden states (B, H) in input order; graph tokens (rows in item/node order) injected."""
        n_total = sum(len(idx) for idx, _, _ in prepared)
        # graph tokens arrive in the original item order: cut them per item first
        per_item_counts = [0] * n_total
        for idx, _, ng in prepared:
            for i, n in zip(idx, ng, strict=True):
                per_item_counts[i] = n
        per_item: list[torch.Tensor | None] = [None] * n_total
        if graph_tokens is not None:
            pieces = torch.split(graph_tokens, per_item_counts, dim=0)
            per_item = list(pieces)
        outs: list[torch.Tensor | None] = [None] * n_total
        for idx, batch, ng in prepared:
            hook = None
            if any(ng):
                h = graph_tokens.shape[1]
                hook = self.bb.graph_hook([per_item[i] if per_item[i] is not None else graph_tokens.new_zeros(0, h)
                                           for i in idx])
            z = self.bb.embed_batch(batch, normalize=False, inputs_embeds_hook=hook)
            for j, i in enumerate(idx):
                outs[i] = z[j]
        return torch.stack(outs)  # type: ignore[arg-type]

