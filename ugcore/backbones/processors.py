"""Processors that work without torchvision, built the same way for a tiny folder and a real checkpoint.

transformers' default Qwen2-VL image processor and its video processor need torchvision, which has no working
CPU build for our torch (see docs/environment.md). So we never call AutoProcessor for native families: we
load the tokenizer with AutoTokenizer, the PIL image processor class explicitly, and assemble the processor.
Saving writes the usual files (tokenizer*, preprocessor_config.json, processor_config.json), so a saved
folder is reloaded by this same code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer
from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil
from transformers.models.llava_next.processing_llava_next import LlavaNextProcessor
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

from ugcore.errors import UserError

from .families import FamilySpec


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """Qwen2-VL processor without a video processor (the only one transformers ships needs torchvision).

    ProcessorMixin derives its sub-processor list from __init__'s parameter names, so dropping the
    `video_processor` parameter removes the video processor cleanly; videos are not used for embeddings.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without a video processor (see Qwen2VLImageOnlyProcessor)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def build_processor(
    spec: FamilySpec, source: str, model_config: Any, *, hub_kw: dict[str, Any] | None = None
) -> Any:
    """Load the family's processor from `source` (a local folder or a hub id; hub_kw: revision, cache_dir)."""
    kw: dict[str, Any] = dict(hub_kw or {})
    if spec.trust_remote_code:
        from transformers import AutoProcessor

        # Phi-3-V's processor is remote code (and its image processor imports torchvision).
        return AutoProcessor.from_pretrained(source, trust_remote_code=True, **kw)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kw)
        processor = _assemble(spec, source, tokenizer, model_config, kw)
    except OSError as exc:
        raise UserError(f"{source}: cannot load the processor ({str(exc).splitlines()[0]})") from exc
    _check_tokenizer(spec, source, tokenizer)
    return processor


def _check_tokenizer(spec: FamilySpec, source: str, tokenizer: Any) -> None:
    """A folder without tokenizer files still yields a tokenizer (an empty BPE from tokenizer_config.json);
    it would turn every prompt into unknown tokens. Refuse it: the family's specials must be known."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in (spec.image_token, spec.end_token) if t not in vocab]
    if missing or len(vocab) < 256:
        raise UserError(
            f"{source}: its tokenizer ({len(vocab)} tokens) lacks {', '.join(missing) or 'a real vocabulary'}; "
            f"the tokenizer files (tokenizer.json / vocab + merges) are missing or this is not a {spec.name} checkpoint"
        )


def _assemble(spec: FamilySpec, source: str, tokenizer: Any, model_config: Any, kw: dict[str, Any]) -> Any:
    if spec.name in ("qwen2_vl", "qwen2_5_vl"):
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(source, **kw)
        cls = Qwen2VLImageOnlyProcessor if spec.name == "qwen2_vl" else Qwen2_5_VLImageOnlyProcessor
        return cls(image_processor=image_processor, tokenizer=tokenizer)
    if spec.name == "llava_next":
        image_processor = LlavaNextImageProcessorPil.from_pretrained(source, **kw)
        extra = _processor_config(source, kw)
        vision = model_config.vision_config
        return LlavaNextProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=extra.get("patch_size", vision.patch_size),
            vision_feature_select_strategy=extra.get(
                "vision_feature_select_strategy", model_config.vision_feature_select_strategy
            ),
            # CLIP towers prepend a CLS token (the "+1" the llava-hf processor configs declare).
            num_additional_image_tokens=extra.get("num_additional_image_tokens", 1),
            image_token=spec.image_token,
        )
    if spec.name == "minilm_vlm":
        from .minivlm import MiniVLMProcessor

        if not Path(source).is_dir():
            raise UserError(f"{source}: a {spec.name} backbone is built locally (backbone config minilm-vlm), "
                            "not loaded from the hub")
        return MiniVLMProcessor.from_pretrained(source, tokenizer=tokenizer)
    raise UserError(f"no processor recipe for family {spec.name}")


def _processor_config(source: str, kw: dict[str, Any]) -> dict[str, Any]:
    local = Path(source) / "processor_config.json"
    if local.is_file():
        return _json(local)
    try:
        from huggingface_hub import hf_hub_download

        return _json(Path(hf_hub_download(source, "processor_config.json", **kw)))
    except Exception:  # noqa: BLE001 - the file is optional; defaults come from the model config
        return {}


def process_one_by_one(processor: Any, texts: list[str], images: list[Any | None], padding_side: str) -> dict:
    """Batch for processors that take ONE prompt per call (Phi-3-V's remote Phi3VProcessor): process each
    item, then pad input_ids/attention_mask on `padding_side` and stack the image tensors (the Phi-3-V image
    processor pads every image to the same number of crops, so they stack)."""
    rows = []
    for text, image in zip(texts, images, strict=True):
        rows.append(processor(text=text, images=[image] if image is not None else None, return_tensors="pt"))
    pad_id = processor.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = processor.tokenizer.eos_token_id
    length = max(int(r["input_ids"].shape[1]) for r in rows)
    ids = torch.full((len(rows), length), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        n = int(r["input_ids"].shape[1])
        sl = slice(length - n, length) if padding_side == "left" else slice(0, n)
        ids[i, sl] = r["input_ids"][0]
        mask[i, sl] = r["attention_mask"][0]
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    with_images = [r for r in rows if "pixel_values" in r and r["pixel_values"] is not None]
    if with_images:
        out["pixel_values"] = torch.cat([r["pixel_values"] for r in with_images], 0)
        out["image_sizes"] = torch.cat([r["image_sizes"] for r in with_images], 0)
    return out


def apply_image_overrides(processor: Any, spec: FamilySpec, overrides: dict[str, Any] | None) -> None:
    """Apply a backbone config's `image_processor:` block (e.g. GME's 256..1280 visual tokens per image)."""
    if not overrides:
        return
    ip = processor.image_processor
    if spec.name in ("qwen2_vl", "qwen2_5_vl"):
        size = dict(ip.size) if ip.size else {}
        if "min_pixels" in overrides:
            size["shortest_edge"] = int(overrides["min_pixels"])
        if "max_pixels" in overrides:
            size["longest_edge"] = int(overrides["max_pixels"])
        ip.size = size
        rest = {k: v for k, v in overrides.items() if k not in ("min_pixels", "max_pixels")}
    else:
        rest = dict(overrides)
    for key, value in rest.items():
        if not hasattr(ip, key):
            raise UserError(f"image_processor option '{key}' is unknown to {type(ip).__name__}")
        setattr(ip, key, value)
