"""VLM families: how to recognise each one, and how to turn (instruction, text, image) into its prompt.

A family is a small declarative record, not a class hierarchy: the loading code in vlm_backbone.py is the
same for every family and only reads these fields. Prompts are rendered from explicit templates rather than
from each tokenizer's chat template, because (a) tiny offline tokenizers have none, (b) an embedding model's
prompt must be byte-identical between training and evaluation, and a hub chat template can change between
revisions, and (c) GME and VLM2Vec checkpoints expect formats that no chat template produces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ugcore.errors import UserError

GRAPH_START = "<|graph_start|>"
GRAPH_PAD = "<|graph_pad|>"
GRAPH_END = "<|graph_end|>"
GRAPH_TOKENS = (GRAPH_START, GRAPH_PAD, GRAPH_END)

#: prompt styles every family understands; "chat" is the default (the UGE training format; for Qwen it is
#: exactly GME's format, so "gme" is an alias), "vlm2vec" is VLM2Vec's plain format.
PROMPT_STYLES = ("chat", "gme", "vlm2vec")


Template = Callable[["FamilySpec", str | None, str, str, str], str]  # spec, instruction, graph, image, text


def _qwen(spec: FamilySpec, instr: str | None, graph: str, image: str, body: str) -> str:
    # "chat" == GME's format: the instruction is the system prompt, user turn holds graph/image then text,
    # and <|endoftext|> after the assistant header is the pooled token.
    system = instr or spec.default_instruction
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{graph}{image}{body}<|im_end|>\n"
        f"<|im_start|>assistant\n{spec.end_token}"
    )


def _llava_mistral(spec: FamilySpec, instr: str | None, graph: str, image: str, body: str) -> str:
    lines = [x for x in (f"{graph}{image}", instr, body) if x]
    return f"[INST] {chr(10).join(lines)} [/INST]{spec.end_token}"


def _phi3v(spec: FamilySpec, instr: str | None, graph: str, image: str, body: str) -> str:
    lines = [x for x in (f"{graph}{image}", instr, body) if x]
    return f"<|user|>\n{chr(10).join(lines)}<|end|>\n<|assistant|>\n{spec.end_token}"


def _bert(spec: FamilySpec, instr: str | None, graph: str, image: str, body: str) -> str:
    # An encoder LM reads "[CLS] instruction [SEP] graph image text [SEP]" (the tokenizer adds [CLS] and the
    # final [SEP]); without an instruction a text is exactly "[CLS] text [SEP]", the input all-MiniLM-L6-v2 was
    # trained on, so the untrained backbone embeds documents as the sentence model does.
    content = f"{graph}{image}{body}"
    return f"{instr} {spec.end_token} {content}" if instr else content


@dataclass(frozen=True)
class FamilySpec:
    """What differs between VLM families, as data (one row of FAMILIES)."""

    name: str
    hub_pattern: str  # regex (case-insensitive, search) on a hub id such as "Qwen/Qwen2-VL-2B-Instruct"
    template: Template  # renders the "chat" style: (spec, instruction, graph, image block, text) -> prompt
    image_token: str  # placeholder the processor expands into the image's feature tokens
    image_block: str  # how one image appears in the prompt (wraps image_token)
    end_token: str  # appended after the assistant header: the pooled "summary" token
    default_instruction: str
    lora_target_modules: str  # peft regex: q/k/v/o projections of the LANGUAGE model only
    special_tokens: tuple[str, ...] = ()
    trust_remote_code: bool = False
    # LLaVA-NeXT's language model derives positions from the sequence index (0..L-1), so a left-padded row
    # would see shifted positions; we pass positions computed from the attention mask instead. Qwen-VL
    # computes its 3D (M-RoPE) positions from the attention mask itself.
    positions_from_mask: bool = False
    add_bos: bool = False
    model_types: tuple[str, ...] = ()  # config.json "model_type" values of this family; () = (name,)
    # How an item's hidden states become one vector: "last" (the last real token: decoder LMs, whose last
    # token has attended to everything) or "mean" (mean over real tokens: encoder LMs such as BERT, whose
    # sentence models were trained with mean pooling).
    pooling: str = "last"
    # Modules outside the LM that train fully next to the LoRA (peft modules_to_save) and are saved with the
    # adapter: parts that start from random weights (a vision tower built here), which LoRA cannot teach.
    trainable_modules: tuple[str, ...] = ()
    # The stage-2 node text feature: "token_mean" (mean of the LM's input token embeddings, the paper's) or
    # "sentence" (the frozen LM's own mean-pooled sentence embedding: for a sentence-embedding LM this puts
    # node names in the space its captions live in; measured on the embedded city, two node texts that differ
    # only in the name have cosine .85 as sentence embeddings and .96 as token means).
    node_text: str = "token_mean"
    # A module to import before loading (it registers the family's model and config with transformers' Auto
    # classes), for families whose model code is part of this package rather than of transformers.
    module: str | None = None

    def __post_init__(self) -> None:
        if not self.model_types:
            object.__setattr__(self, "model_types", (self.name,))
        if self.pooling not in ("last", "mean"):
            raise ValueError(f"family {self.name}: pooling must be 'last' or 'mean', not {self.pooling!r}")
        if self.node_text not in ("token_mean", "sentence"):
            raise ValueError(f"family {self.name}: node_text must be 'token_mean' or 'sentence', not {self.node_text!r}")

    def render(
        self,
        text: str | None,
        has_image: bool,
        instruction: str | None,
        *,
        style: str = "chat",
        n_graph_tokens: int = 0,
    ) -> str:
        """Render one item's prompt (without padding; BOS is added by the tokenizer where the family has one)."""
        if text is None and not has_image and n_graph_tokens == 0:
            raise ValueError("an item needs text, an image or graph tokens")
        if style not in PROMPT_STYLES:
            raise UserError(f"unknown prompt style '{style}'; choose one of {', '.join(PROMPT_STYLES)}")
        graph = (GRAPH_START + GRAPH_PAD * n_graph_tokens + GRAPH_END) if n_graph_tokens else ""
        instr = instruction if instruction else None
        if style == "vlm2vec":
            # VLM2Vec (TIGER-Lab; process_input_text): no chat template, the bare image token, then
            # "{instruction} {text}" separated by spaces; the last token of that string is pooled.
            image = (self.image_token + " ") if has_image else ""
            return (graph + image + " ".join(p for p in (instr, text) if p)).rstrip()
        image = self.image_block if has_image else ""
        return self.template(self, instr, graph, image, text or "")


_ATTN_LORA = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"
# Qwen2-VL and Qwen2.5-VL share their tokens, prompt and LoRA targets; only the hub names differ.
_QWEN: dict[str, Any] = dict(
    template=_qwen,
    image_token="<|image_pad|>",
    image_block="<|vision_start|><|image_pad|><|vision_end|>",
    end_token="<|endoftext|>",
    default_instruction="You are a helpful assistant.",
    lora_target_modules=_ATTN_LORA,
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"),
)

FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (
    FamilySpec("qwen2_vl", hub_pattern=r"qwen2-vl|gme-qwen2-vl|vlm2vec-qwen2vl|vlm2vec-v2", **_QWEN),
    FamilySpec("qwen2_5_vl", hub_pattern=r"qwen2\.5-vl|qwen2_5_vl", **_QWEN),
    FamilySpec(
        "llava_next", hub_pattern=r"llava-v1\.6|llava-next|llava_next", template=_llava_mistral,
        image_token="<image>", image_block="<image>", end_token="</s>", default_instruction="",
        lora_target_modules=_ATTN_LORA, positions_from_mask=True, add_bos=True,
        special_tokens=("<unk>", "<s>", "</s>", "<image>"),
    ),
    FamilySpec(
        "phi3_v", hub_pattern=r"phi-3(\.5)?-vision|vlm2vec-full|vlm2vec-lora", template=_phi3v,
        image_token="<|image_1|>", image_block="<|image_1|>", end_token="<|endoftext|>", default_instruction="",
        # Phi-3-V fuses q/k/v into qkv_proj; the CLIP tower lives under vision_embed_tokens, so anchor on
        # the decoder layers.
        lora_target_modules=r"model\.layers\.\d+\.self_attn\.(qkv_proj|o_proj)", trust_remote_code=True,
        positions_from_mask=True, add_bos=True,
        special_tokens=("<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"),
    ),
    # A miniature built here (ugcore/backbones/minivlm.py): the real all-MiniLM-L6-v2 (BERT, 6 layers, 384
    # wide) as the language model, with a small random vision tower and projector LLaVA-style in front of it.
    # LoRA on the BERT attention only (self-attention q/k/v and its output dense); the vision tower and
    # projector train fully. Its hub_pattern matches no hub id: it is loaded by config name or folder.
    FamilySpec(
        "minilm_vlm", hub_pattern=r"^ug-minilm-vlm$", template=_bert, image_token="<image>",
        image_block="<image>", end_token="[SEP]", default_instruction="",
        lora_target_modules=r".*language_model\.encoder\.layer\.\d+\.attention\.\w+\.(query|key|value|dense)",
        positions_from_mask=True,  # BERT's absolute positions come from the index: left padding would shift them
        special_tokens=("[CLS]", "[SEP]", "[PAD]", "<image>"), model_types=("ug_minilm_vlm",),
        pooling="mean", trainable_modules=("vision_tower", "multi_modal_projector"), node_text="sentence",
        module="ugcore.backbones.minivlm",
    ),
)}


def family_names() -> list[str]:
    return sorted(FAMILIES)


def family_from_model_type(model_type: str, where: str) -> FamilySpec:
    for spec in FAMILIES.values():
        if model_type in spec.model_types:
            return spec
    raise UserError(
        f"{where}: model_type '{model_type}' is not a supported VLM family "
        f"(supported: {', '.join(t for s in FAMILIES.values() for t in s.model_types)})"
    )


def family_from_hub_id(hub_id: str) -> FamilySpec | None:
    """Best guess from a hub id's name (used before anything is downloaded); None when nothing matches."""
    for spec in FAMILIES.values():
        if re.search(spec.hub_pattern, hub_id, flags=re.IGNORECASE):
            return spec
    return None


def detect_family(name_or_path: str | Path) -> FamilySpec:
    """Family of a local folder (config.json model_type) or a hub id (config in the HF cache, else the name)."""
    path = Path(name_or_path)
    cfg_file = path / "config.json"
    if path.is_dir():
        if not cfg_file.is_file():
            raise UserError(f"{path}: no config.json; expected a saved Hugging Face VLM folder")
        return family_from_model_type(_read_model_type(cfg_file), str(cfg_file))
    cached = _cached_hub_config(str(name_or_path))
    if cached is not None:
        return family_from_model_type(_read_model_type(cached), str(name_or_path))
    spec = family_from_hub_id(str(name_or_path))
    if spec is None:
        raise UserError(
            f"'{name_or_path}' is neither a local VLM folder nor a hub id of a supported family "
            f"({', '.join(family_names())})"
        )
    return spec


def _read_model_type(cfg_file: Path) -> str:
    try:
        model_type = json.loads(cfg_file.read_text()).get("model_type")
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{cfg_file}: cannot read ({exc}); is the folder complete?") from exc
    if not model_type:
        raise UserError(f"{cfg_file}: no 'model_type' field; cannot tell which VLM family it is")
    return str(model_type)


def _cached_hub_config(hub_id: str) -> Path | None:
    if hub_id.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(hub_id, "config.json")
    except Exception:  # noqa: BLE001 - a malformed id or cache simply means "not cached"
        return None
    return Path(found) if isinstance(found, str) else None
