"""Shared VLM backbone layer: load a vision-language model as an embedder, for ugbench AND the UGE trainer.

One code path for every source: a hub id ("Qwen/Qwen2-VL-2B-Instruct"), a local checkpoint folder, a
backbone config name ("qwen2-vl-2b", "tiny-qwen2-vl"; ugcore/backbones/configs/*.yaml), or a folder holding a LoRA
adapter saved by `Backbone.save_adapter`. Tiny configs are first built offline into a cache folder with
random weights, then loaded exactly like a real checkpoint. No torchvision is needed (PIL image processors).

The embedding of an item is pooled as its family says (FamilySpec.pooling), optionally L2-normalised: for the
decoder families the hidden state of its LAST REAL token (the family's end token appended after the prompt),
for an encoder LM (MiniLM-VLM) the mean over its real tokens. Padding may be on either side: the pooled index
is the last position whose attention mask is 1 (the mean counts mask-1 positions only), and families whose
positions come from the sequence index get positions from the attention mask, so a padded batch gives the
same embeddings as one item at a time.

API for the UGE trainer:

    bb = load_backbone("tiny-qwen2-vl", trainable=True)  # or a hub id / folder / config; adapter_path=...
    ids = bb.add_graph_tokens()                          # {"<|graph_start|>": i, "<|graph_pad|>": j, ...}
    bb.apply_lora(r=16, alpha=32, dropout=0.1)           # LM q/k/v/o only (config / family regex)
    bb.enable_gradient_checkpointing()                   # optional; non-reentrant, LoRA grads kept
    embedder = accelerator.prepare(bb.as_module())       # nn.Module view: DDP/FSDP wrap THIS
    batch = bb.prepare(items, instruction, n_graph_tokens=[3, 0, ...])   # BatchFeature on bb.device
    hook = bb.graph_hook([node_emb_0 (3, H), node_emb_1 (0, H), ...])    # differentiable soft tokens
    z = embedder(batch, inputs_embeds_hook=hook)         # (B, H) float32, L2-normalised, with grad
    bb.save_adapter(out_dir)                             # adapter + processor + ug_backbone.json
    load_backbone(out_dir)                               # -> the same model again (base found from the record)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ugcore.atomic import write_json_atomic
from ugcore.errors import UserError

from .families import (
    FAMILIES,
    GRAPH_END,
    GRAPH_PAD,
    GRAPH_START,
    GRAPH_TOKENS,
    PROMPT_STYLES,
    FamilySpec,
    detect_family,
)
from .lora import BACKBONE_RECORD, load_lora, model_fingerprint, read_backbone_record
from .sources import ResolvedSource, cache_root, is_vlm_source, resolve_source, weights_revision
from .tiny import build_tiny_backbone, configs_dir, is_built, tiny_marker, tiny_names


def _processors():
    """The processor module imports transformers' processing classes (seconds of start-up): load it only when a
    backbone is actually loaded, so that registry discovery (`--model random`) stays fast."""
    from . import processors

    return processors

__all__ = [
    "FAMILIES",
    "GRAPH_END",
    "GRAPH_PAD",
    "GRAPH_START",
    "GRAPH_TOKENS",
    "PROMPT_STYLES",
    "Backbone",
    "BackboneEmbedder",
    "BackboneItem",
    "EmbedsHook",
    "FamilySpec",
    "build_tiny_backbone",
    "cache_root",
    "configs_dir",
    "detect_family",
    "is_vlm_source",
    "load_backbone",
    "resolve_source",
    "tiny_names",
]

#: hook(input_ids (B, L), inputs_embeds (B, L, H)) -> inputs_embeds; see Backbone.embed_batch.
EmbedsHook = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class BackboneItem:
    """One input: text, an image (PIL), or both. EncodeItem and (text, image) tuples are accepted too."""

    text: str | None = None
    image: Any | None = None


def _as_item(x: Any) -> BackboneItem:
    if isinstance(x, BackboneItem):
        return x
    if isinstance(x, tuple) and len(x) == 2:
        return BackboneItem(text=x[0], image=x[1])
    if isinstance(x, str):
        return BackboneItem(text=x)
    if hasattr(x, "text") and hasattr(x, "image"):
        return BackboneItem(text=x.text, image=x.image)
    raise TypeError(f"cannot use {type(x).__name__} as a backbone item; pass (text, image) or EncodeItem")


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _default_dtype(device: str) -> torch.dtype:
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _as_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    if dtype is None or dtype == "auto":
        return _default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype not in table:
        raise UserError(f"unknown dtype '{dtype}'; use one of {', '.join(table)}")
    return table[dtype]


class Backbone:
    """A loaded VLM used as an embedder. Build it with load_backbone().

    Attributes: model (the transformers model, or a peft PeftModel around it), processor, tokenizer, family
    (FamilySpec), source (folder or hub id), hub_id (or None), revision, device, dtype, prompt_style,
    graph_token_ids.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        family: FamilySpec,
        *,
        source: str,
        revision: str,
        name: str,
        prompt_style: str = "chat",
        resolved: ResolvedSource | None = None,
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.family = family
        self.source = source
        self.revision = revision
        self.name = name
        self.prompt_style = prompt_style
        self._resolved = resolved
        self.hub_id = resolved.hub_id if resolved else None
        self.graph_token_ids: dict[str, int] | None = None
        first = next(model.parameters())
        self.device = first.device
        self.dtype = first.dtype

    # ------------------------------------------------------------------ structure
    @property
    def base_model(self) -> Any:
        """The transformers model under any peft wrapper."""
        from peft import PeftModel

        return self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model

    @property
    def core(self) -> Any:
        """The multimodal trunk without the LM head (Qwen2VLModel, LlavaNextModel, ...): we need hidden
        states only, and skipping the vocabulary projection saves a (B, L, 150k) matmul per batch."""
        return self.base_model.model

    @property
    def input_embeddings(self) -> torch.nn.Embedding:
        return self.base_model.get_input_embeddings()

    @property
    def lora_target_modules(self) -> str:
        """peft target_modules regex: the backbone config's, else the family's (LM q/k/v/o only)."""
        cfg = self._resolved.config if self._resolved else {}
        return str(cfg.get("lora_target_modules") or self.family.lora_target_modules)

    @property
    def hidden_size(self) -> int:
        cfg = self.base_model.config
        return int(getattr(cfg, "text_config", cfg).hidden_size)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # ------------------------------------------------------------------ graph tokens
    def add_graph_tokens(self) -> dict[str, int]:
        """Add <|graph_start|>, <|graph_pad|>, <|graph_end|> as special tokens (idempotent); return their ids.

        Real checkpoints have spare embedding rows beyond the tokenizer (Qwen2-VL: 151,936 rows for 151,657
        tokens), so the ids usually fit and nothing is resized; otherwise the embeddings are resized with the
        new rows set to the mean embedding (deterministic). <|graph_pad|> rows are always replaced by graph
        soft tokens; train <|graph_start|>/<|graph_end|> with peft `trainable_token_indices` if wanted.
        Call it BEFORE apply_lora / loading an adapter (load_backbone does it for adapters saved with it).
        """
        tok = self.tokenizer
        missing = [t for t in GRAPH_TOKENS if t not in tok.get_vocab()]
        if missing:
            tok.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
        ids = {t: int(tok.convert_tokens_to_ids(t)) for t in GRAPH_TOKENS}
        emb = self.input_embeddings
        needed = max(ids.values()) + 1
        if needed > emb.weight.shape[0]:
            with torch.no_grad():
                mean = emb.weight.mean(0)
                old = emb.weight.shape[0]
                self.base_model.resize_token_embeddings(needed, mean_resizing=False)
                self.input_embeddings.weight[old:] = mean
        self.graph_token_ids = ids
        return ids

    @torch.no_grad()
    def sentence_embeddings(self, texts: Sequence[str], *, max_tokens: int = 128, batch_size: int = 64) -> torch.Tensor:
        """(N, H) float32: the FROZEN base model's mean-pooled embedding of each bare text ("[CLS] text [SEP]" for
        BERT; no prompt template, no instruction, LoRA adapters off, eval mode), the node text feature of
        families with node_text == "sentence". Frozen so that the UGE node-feature cache stays exact while the
        adapter trains; un-normalised, as the graph encoder standardises its inputs itself."""
        from peft import PeftModel

        was_training = self.model.training
        ctx = self.model.disable_adapter() if isinstance(self.model, PeftModel) else contextlib.nullcontext()
        out = []
        self.model.eval()
        try:
            with ctx:
                for i in range(0, len(texts), batch_size):
                    enc = self.tokenizer(list(texts[i : i + batch_size]), truncation=True, max_length=max_tokens + 2,
                                         padding=True, return_tensors="pt", return_token_type_ids=False).to(self.device)
                    mask = enc["attention_mask"]
                    kw: dict[str, Any] = {"position_ids": (mask.long().cumsum(-1) - 1).clamp(min=0)}
                    hidden = self.core(input_ids=enc["input_ids"], attention_mask=mask, use_cache=False,
                                       return_dict=True, **(kw if self.family.positions_from_mask else {}))
                    out.append(self.mean_pool(hidden.last_hidden_state, mask).float())
        finally:
            self.model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.hidden_size, device=self.device)

    def text_features(self, texts: Sequence[str], *, max_tokens: int = 128) -> torch.Tensor:
        """(N, H) node text features as the family defines them (FamilySpec.node_text)."""
        if self.family.node_text == "sentence":
            return self.sentence_embeddings(texts, max_tokens=max_tokens)
        with torch.no_grad():
            return self.mean_token_embeddings(texts, max_tokens=max_tokens)

    def mean_token_embeddings(self, texts: Sequence[str], *, max_tokens: int = 128) -> torch.Tensor:
        """(N, H) mean of the LLM's input token embeddings of each text (first max_tokens tokens, no special
        tokens): the UGE node encoder's text feature. Differentiable w.r.t. the embedding table only if that
        table is trainable (it is frozen by default)."""
        enc = self.tokenizer(
            list(texts),
            add_special_tokens=False,
            truncation=True,
            max_length=max_tokens,
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        emb = self.input_embeddings(enc["input_ids"]).float()
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return (emb * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def graph_hook(self, node_embeddings: Sequence[torch.Tensor]) -> EmbedsHook:
        """A hook that writes row i's graph node embeddings (n_i, H) at its <|graph_pad|> positions.

        Gradients flow into node_embeddings (masked_scatter is differentiable w.r.t. its source). The count
        of <|graph_pad|> tokens in row i must equal n_i (use prepare(..., n_graph_tokens=[n_i ...])).
        """
        if self.graph_token_ids is None:
            raise RuntimeError("call add_graph_tokens() before using graph tokens")
        pad_id = self.graph_token_ids[GRAPH_PAD]

        def hook(input_ids: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
            mask = input_ids == pad_id
            counts = mask.sum(1).tolist()
            want = [int(n.shape[0]) for n in node_embeddings]
            if counts != want:
                raise ValueError(f"graph token counts per row {counts} != node embeddings per row {want}")
            if not any(want):
                return embeds
            src = torch.cat([n for n in node_embeddings if n.shape[0]], 0).to(embeds.dtype)
            return embeds.masked_scatter(mask.unsqueeze(-1).expand_as(embeds), src)

        return hook

    def enable_gradient_checkpointing(self) -> None:
        """Activation checkpointing for training. Non-reentrant, so LoRA weights inside checkpointed layers
        get gradients even though the (frozen) embedding output does not require grad."""
        self.base_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.base_model.config.use_cache = False

    def as_module(self) -> BackboneEmbedder:
        """An nn.Module whose forward(batch, inputs_embeds_hook=None, normalize=True) = embed_batch."""
        return BackboneEmbedder(self)

    # ------------------------------------------------------------------ LoRA
    def apply_lora(
        self,
        r: int = 16,
        alpha: int = 32,
        dropout: float = 0.1,
        target_modules: str | list[str] | None = None,
        **lora_kwargs: Any,
    ) -> Any:
        """Wrap the model in a fresh peft LoRA (default targets: the family's LM q/k/v/o regex)."""
        from peft import LoraConfig, PeftModel, get_peft_model

        if isinstance(self.model, PeftModel):
            raise RuntimeError("the backbone already carries a LoRA adapter")
        if self.family.trainable_modules and "modules_to_save" not in lora_kwargs:
            # parts of the family that start random (a vision tower built here) train fully and are saved with
            # the adapter; LoRA could only add a low-rank change to weights that mean nothing yet
            lora_kwargs["modules_to_save"] = list(self.family.trainable_modules)
        cfg = LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=target_modules or self.lora_target_modules,
            **lora_kwargs,
        )
        with warnings.catch_warnings():
            # peft 0.21 reads `is_gradient_checkpointing`, which transformers 5 deprecates: a warning on every
            # LoRA wrap that is neither ours nor actionable (peft's fix is pending upstream).
            warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*deprecated", category=FutureWarning)
            self.model = get_peft_model(self.model, cfg)
        return self.model

    def save_adapter(self, out_dir: str | Path) -> Path:
        """Save the LoRA adapter, the processor/tokenizer and ug_backbone.json (base id, fingerprint) so that
        `load_backbone(out_dir)` and `load_backbone(base, adapter_path=out_dir)` both restore this model."""
        from peft import PeftModel

        if not isinstance(self.model, PeftModel):
            raise RuntimeError("no LoRA adapter to save; call apply_lora() or load one")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))
        self.processor.save_pretrained(str(out))
        base = self._resolved.model_source if self._resolved else self.source
        record = {
            "base": base,
            "base_revision": self.revision,
            "family": self.family.name,
            "prompt_style": self.prompt_style,
            "graph_tokens": self.graph_token_ids is not None,
            "fingerprint": model_fingerprint(self.base_model),
        }
        if self._resolved and is_built(self._resolved.config):
            record["base_config"] = self._resolved.config.get("name")
            record["base_seed"] = (tiny_marker(base) or {}).get("seed", 0)
        write_json_atomic(out / BACKBONE_RECORD, record)
        return out

    # ------------------------------------------------------------------ inputs
    def prompts(
        self,
        items: Sequence[Any],
        instruction: str | None = None,
        *,
        n_graph_tokens: Sequence[int] | None = None,
    ) -> list[str]:
        items = [_as_item(x) for x in items]
        ns = list(n_graph_tokens) if n_graph_tokens is not None else [0] * len(items)
        if len(ns) != len(items):
            raise ValueError("n_graph_tokens needs one count per item")
        if any(ns) and self.graph_token_ids is None:
            raise RuntimeError("call add_graph_tokens() before asking for graph tokens")
        out = []
        for it, n in zip(items, ns, strict=True):
            if it.text is None and it.image is None and n == 0:
                raise ValueError("an item has neither text nor image")
            out.append(
                self.family.render(
                    it.text, it.image is not None, instruction, style=self.prompt_style, n_graph_tokens=n
                )
            )
        return out

    def prepare(
        self,
        items: Sequence[Any],
        instruction: str | None = None,
        *,
        n_graph_tokens: Sequence[int] | None = None,
    ):
        """Tokenise a batch (prompt template, image placeholders expanded, padding) -> BatchFeature on device.

        Keys: input_ids, attention_mask, plus pixel_values/image_grid_thw/mm_token_type_ids (Qwen) or
        pixel_values/image_sizes (LLaVA-NeXT) when the batch has images, and position_ids where the family
        needs positions from the attention mask.
        """
        from transformers import BatchFeature

        items = [_as_item(x) for x in items]
        texts = self.prompts(items, instruction, n_graph_tokens=n_graph_tokens)
        if self.family.trust_remote_code:  # Phi-3-V's remote processor takes one prompt per call
            per_item = [it.image.convert("RGB") if it.image is not None else None for it in items]
            batch = BatchFeature(
                _processors().process_one_by_one(self.processor, texts, per_item, self.tokenizer.padding_side)
            )
        else:
            images = [it.image.convert("RGB") for it in items if it.image is not None]
            kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
            if images:
                kwargs["images"] = images
            batch = self.processor(**kwargs)
        if "mm_token_type_ids" in batch and "image_grid_thw" not in batch:
            del batch["mm_token_type_ids"]  # text-only batch: nothing to mark
        if self.family.positions_from_mask:
            mask = batch["attention_mask"]
            batch["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
        batch = batch.to(self.device)
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
        return batch

    # ------------------------------------------------------------------ forward + pooling
    @contextlib.contextmanager
    def _embeds_hook(self, hook: EmbedsHook | None, shape: torch.Size) -> Iterator[None]:
        """Run `hook(input_ids, embeds)` on the input-embedding output of this forward pass.

        A forward hook on the embedding module (rather than passing inputs_embeds) keeps input_ids flowing
        through the model, which Qwen-VL needs for its M-RoPE positions and image placeholder masks.
        """
        if hook is None:
            yield
            return

        def _fn(module, args, output):
            ids = args[0]
            if ids.dim() == 2 and tuple(ids.shape) == tuple(shape):
                return hook(ids, output)
            return output

        handle = self.input_embeddings.register_forward_hook(_fn)
        try:
            yield
        finally:
            handle.remove()

    def hidden_states(self, batch: Any, *, inputs_embeds_hook: EmbedsHook | None = None) -> torch.Tensor:
        """Last-layer hidden states (B, L, H) of a prepared batch."""
        inputs = dict(batch)
        with self._embeds_hook(inputs_embeds_hook, inputs["input_ids"].shape):
            out = self.core(**inputs, use_cache=False, return_dict=True)
        return out.last_hidden_state

    @staticmethod
    def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of each row's hidden states over its positions with attention_mask == 1 (any padding side)."""
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The family's pooling (FamilySpec.pooling): last real token, or mean over real tokens."""
        if self.family.pooling == "mean":
            return self.mean_pool(hidden, attention_mask)
        return self.last_token_pool(hidden, attention_mask)

    @staticmethod
    def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden state at each row's last position with attention_mask == 1 (left or right padding)."""
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask.long() * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def embed_batch(
        self, batch: Any, *, normalize: bool = True, inputs_embeds_hook: EmbedsHook | None = None
    ) -> torch.Tensor:
        """Pooled (B, H) float32 embeddings of a prepared batch; keeps the autograd graph (for training)."""
        hidden = self.hidden_states(batch, inputs_embeds_hook=inputs_embeds_hook)
        pooled = self.pool(hidden, batch["attention_mask"]).float()
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def embed(
        self,
        items: Sequence[Any],
        instruction: str | None = None,
        *,
        normalize: bool = True,
        n_graph_tokens: Sequence[int] | None = None,
        inputs_embeds_hook: EmbedsHook | None = None,
    ) -> torch.Tensor:
        """prepare + embed_batch in one call: (B, H) tensor (with grad unless called under no_grad)."""
        batch = self.prepare(items, instruction, n_graph_tokens=n_graph_tokens)
        return self.embed_batch(batch, normalize=normalize, inputs_embeds_hook=inputs_embeds_hook)

    @torch.inference_mode()
    def encode(
        self,
        items: Sequence[Any],
        instruction: str | None = None,
        *,
        batch_size: int = 8,
        normalize: bool = True,
    ) -> np.ndarray:
        """Inference helper: embeddings of many items in batches, as float32 numpy (n, H)."""
        was_training = self.model.training
        self.model.eval()
        try:
            parts = [
                self.embed(items[i : i + batch_size], instruction, normalize=normalize).cpu().numpy()
                for i in range(0, len(items), batch_size)
            ]
        finally:
            self.model.train(was_training)
        return np.concatenate(parts, 0) if parts else np.zeros((0, self.hidden_size), np.float32)


class BackboneEmbedder(torch.nn.Module):
    """The backbone as an nn.Module, for wrapping with DDP / FSDP / accelerate.prepare.

    DDP synchronises gradients only for work done inside the wrapped module's forward, so a trainer must
    not call Backbone.embed_batch on a wrapped model's inner module; it wraps this instead:
    `emb = accelerator.prepare(bb.as_module()); z = emb(batch, inputs_embeds_hook=hook)`.
    peft injects LoRA layers into the model in place, so the parameter set is the same whether this is
    built before or after Backbone.apply_lora (apply_lora first is still the clearer order).
    """

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.model = backbone.model
        object.__setattr__(self, "_backbone", backbone)  # not a submodule: its model is registered above

    def forward(
        self, batch: Any, inputs_embeds_hook: EmbedsHook | None = None, normalize: bool = True
    ) -> torch.Tensor:
        return self._backbone.embed_batch(batch, normalize=normalize, inputs_embeds_hook=inputs_embeds_hook)


def load_backbone(
    name_or_path: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | None = None,
    adapter_path: str | Path | None = None,
    trainable: bool = False,
    padding_side: str = "left",
    prompt_style: str | None = None,
    seed: int = 0,
    attn_implementation: str | None = None,
    cache_dir: str | Path | None = None,
) -> Backbone:
    """Load a supported VLM (hub id, folder, backbone config name, or adapter folder) as a Backbone.

    dtype: None -> bfloat16 on a CUDA GPU with bf16, else float32. device: None -> cuda if available.
    adapter_path: a peft LoRA folder (checked: weights present, fits this backbone, every tensor loaded).
    trainable: False -> eval mode, all parameters frozen; True -> train mode, the adapter (if any) trainable,
    base weights still frozen (add LoRA with Backbone.apply_lora).
    padding_side: "left" or "right"; pooling is correct for both (tested).
    prompt_style: "chat" (default; GME's format), "gme" (same), or "vlm2vec" (no chat template).
    seed: tiny configs only (the random weights).
    cache_dir: the Hugging Face hub cache to look in (default: HF_HUB_CACHE). A hub id already in the cache
    is loaded from its snapshot folder; otherwise from_pretrained fetches it (fails under HF_HUB_OFFLINE=1).
    """
    if padding_side not in ("left", "right"):
        raise UserError(f"padding_side must be 'left' or 'right', not '{padding_side}'")
    resolved = resolve_source(name_or_path, seed=seed, cache_dir=cache_dir)
    if adapter_path is not None:
        if resolved.adapter_path is not None:
            raise UserError(f"{name_or_path} is already an adapter folder; do not also pass adapter_path")
        resolved.adapter_path = str(adapter_path)
        record = read_backbone_record(Path(adapter_path)) or {}
        resolved.graph_tokens = bool(record.get("graph_tokens"))
    spec = resolved.family
    style = prompt_style or resolved.config.get("prompt_style") or _record_style(resolved) or "chat"
    if style not in PROMPT_STYLES:
        raise UserError(f"unknown prompt_style '{style}'; choose one of {', '.join(PROMPT_STYLES)}")
    dev = device or _default_device()
    # A config's dtype (bfloat16 for the real backbones) is a GPU recommendation; CPUs run float32 unless
    # the caller asks otherwise.
    config_dtype = resolved.config.get("dtype") if dev.startswith("cuda") else None
    torch_dtype = _as_dtype(dtype or config_dtype, dev)

    _preflight(spec, resolved)
    if spec.module:  # model code of this package: registers its config and model with transformers' Auto classes
        import importlib

        importlib.import_module(spec.module)
    source = resolved.model_source
    revision = resolved.config.get("revision")
    hub_kw: dict[str, Any] = {}
    if not Path(source).is_dir():
        hub_kw = {k: v for k, v in (("revision", revision), ("cache_dir", cache_dir)) if v}
    if dev.startswith("cuda"):
        hub_kw["device_map"] = dev  # load shards straight onto the GPU instead of staging 15 GB in host RAM
    # Config and processor first (small files): a broken folder fails before gigabytes of weights load.
    file_kw = {k: v for k, v in hub_kw.items() if k != "device_map"}
    model_config = _hub_call(source, _auto_config, spec, file_kw)
    processor = _processors().build_processor(spec, source, model_config, hub_kw=file_kw)
    model = _load_model(spec, source, torch_dtype, hub_kw, attn_implementation)
    processor.tokenizer.padding_side = padding_side
    if not is_built(resolved.config):  # a built folder already holds its image settings
        _processors().apply_image_overrides(processor, spec, resolved.config.get("image_processor"))
    model.requires_grad_(False)
    model.to(dev)

    bb = Backbone(
        model,
        processor,
        spec,
        source=source,
        revision=weights_revision(source, resolved.config),
        name=resolved.display_name or str(name_or_path),
        prompt_style=style,
        resolved=resolved,
    )
    if resolved.graph_tokens:
        bb.add_graph_tokens()
    if resolved.adapter_path is not None:
        record = read_backbone_record(Path(resolved.adapter_path)) or {}
        if record.get("base_revision") not in (None, bb.revision):
            warnings.warn(
                f"adapter {resolved.adapter_path} was trained on {record.get('base')} at revision "
                f"{record['base_revision']}, but the backbone loaded is revision {bb.revision}; embeddings "
                "may differ from the ones it was evaluated with",
                RuntimeWarning,
                stacklevel=2,
            )
        bb.model = load_lora(bb.model, resolved.adapter_path, source=source, trainable=trainable)
        bb.revision = f"{bb.revision}+{_adapter_hash(Path(resolved.adapter_path))}"
    bb.model.train(trainable)
    return bb


def _preflight(spec: FamilySpec, resolved: ResolvedSource) -> None:
    """Fail before loading gigabytes of weights when the family cannot run here."""
    if spec.trust_remote_code:
        import importlib.util

        if importlib.util.find_spec("torchvision") is None:
            raise UserError(
                f"{resolved.display_name}: {spec.name} is loaded with trust_remote_code and its hub image processor "
                "imports torchvision, which is not installed; install the torchvision build matching your torch "
                "(on GPU machines) to use this backbone"
            )


def _record_style(resolved: ResolvedSource) -> str | None:
    if resolved.adapter_path is None:
        return None
    return (read_backbone_record(Path(resolved.adapter_path)) or {}).get("prompt_style")


def _adapter_hash(path: Path) -> str:
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
        if (path / name).is_file():
            h.update((path / name).read_bytes())
    return "lora-" + h.hexdigest()[:12]


def _auto_config(source: str, spec: FamilySpec, kw: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(source, trust_remote_code=spec.trust_remote_code, **kw)


def _hub_call(source: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a from_pretrained-style call, turning "not found / not downloaded" into a one-line UserError."""
    try:
        return fn(source, *args)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1: download it first with `hf download`)" if offline else ""
        raise UserError(f"cannot load VLM weights from '{source}': {str(exc).splitlines()[0]}{hint}") from exc


def _load_model(spec: FamilySpec, source: str, dtype: torch.dtype, hub_kw: dict[str, Any], attn: str | None):
    kw: dict[str, Any] = {"dtype": dtype, **hub_kw}
    if attn:
        kw["attn_implementation"] = attn
    if spec.trust_remote_code:
        from transformers import AutoModelForCausalLM

        # Phi-3-Vision is not in transformers: its modeling code comes from the hub repository.
        return _hub_call(
            source, lambda src: AutoModelForCausalLM.from_pretrained(src, trust_remote_code=True, **kw)
        )
    from transformers import AutoModelForImageTextToText

    return _hub_call(source, lambda src: AutoModelForImageTextToText.from_pretrained(src, **kw))
