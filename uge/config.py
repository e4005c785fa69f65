"""The UGE training config: one pydantic model, loaded from YAML, overridable from the command line.

Why pydantic with extra="forbid": a typo in a YAML key (``lerning_rate``) would otherwise be ignored and
the run would silently use the default. Every unknown key is an error that names the key, where it is,
and the closest valid key. Dotted overrides (``train.lr=1e-4 lora.r=8``) are applied to the raw YAML
mapping before validation, so the same checks cover them. A config may inherit from another with
``_base_: other.yaml`` (relative to its folder; see `_read_with_bases`): it then states only what differs.

The resolved config (after overrides and defaults) is saved as ``config.yaml`` in every checkpoint and
in the run directory, so a run can be repeated from its output alone.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ugcore.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BackboneConfig(_Strict):
    """Which vision-language model to adapt.

    name_or_path: a hub id of a supported family (e.g. "Qwen/Qwen2-VL-2B-Instruct"), a local folder
    holding one, a backbone config name of ugcore/backbones/configs/ (e.g. "tiny-qwen2-vl": a random-weight tiny
    backbone built offline, for tests and the demo), or "adapter:<module>:<callable>" (your own adapter).
    """

    name_or_path: str
    revision: str | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    attn_implementation: str | None = None  # e.g. "flash_attention_2", "sdpa"; None = library default
    max_length: int = 512  # text tokens per item (texts are cut to this before the prompt is built)
    image_min_pixels: int | None = None
    image_max_pixels: int | None = None  # caps visual tokens per image (memory)
    gradient_checkpointing: bool = True


class LoraConfig(_Strict):
    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    # Regex or list of module-name suffixes of the LANGUAGE model to adapt (the paper: q_proj, v_proj).
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    language_model_only: bool = True  # leave the vision tower frozen (the paper's recipe)


class EmbeddingConfig(_Strict):
    # Pooling is a property of the backbone family (ugcore FamilySpec.pooling): the last token for decoder LMs,
    # the mean for an encoder LM (MiniLM-VLM). "auto" takes the family's; naming one that differs is refused at
    # start-up, since the backbone layer (shared with ugbench) pools one way per family.
    pooling: Literal["auto", "last_token", "mean"] = "auto"
    normalize: bool = True
    projection_dim: int | None = None  # None: use the LLM hidden size; else a learned linear projection
    matryoshka_dims: list[int] = Field(default_factory=list)  # extra losses on prefixes of the embedding


class LossConfig(_Strict):
    temperature: float = Field(0.01, gt=0.0)
    learnable_temperature: bool = False
    gather_across_processes: bool = True  # cross-process negatives, gathered WITH gradient
    hard_negatives: int = Field(1, ge=0)  # spatial hard negatives per query (UGData hard_negative_ids)
    max_positives: int = Field(2, ge=1)  # caption + up to (max_positives - 1) reasoning paths
    symmetric: bool = False  # add the document->query direction


class DataConfig(_Strict):
    path: str  # a UGData directory
    train_split: str = "train"
    eval_split: str = "val"
    # Pair types and their sampling weights; see uge/data.py for what each one builds.
    pair_types: dict[str, float] = Field(
        default_factory=lambda: {"image_caption": 1.0, "image_path": 0.5, "text_image": 0.25, "fusion_caption": 0.25}
    )
    max_train_examples: int | None = None  # cap (debugging / demos)
    # Views of one place (same point, other headings) put together in a batch, up to this many: they become
    # each other's in-batch negatives, which is what teaches heading / what-is-in-front. 1 = plain shuffle.
    place_group_size: int = Field(1, ge=1)
    image_size: int | None = None  # resize the longer side to this many pixels (None: as stored)
    num_workers: int = 0
    instructions: dict[str, str] = Field(default_factory=dict)  # override the default per-pair instructions
    # Probability that an item is encoded with an instruction drawn from the dataset's own task instructions
    # (tasks/*/task.json, by the item's modality) instead of its pair type's: the embedder then answers to
    # the prompts ugbench gives at evaluation, not only to the one it was trained with. 0 = off.
    task_instruction_prob: float = Field(0.0, ge=0.0, le=1.0)


class GraphEncoderConfig(_Strict):
    """Stage-2 graph encoder (the paper's design; see uge/graph_encoder.py)."""

    hidden_dim: int = 256
    coord_dim: int = 64
    coord_frequencies: int = 16
    coord_min_radius: float = 1e-6
    coord_max_radius: float = 360.0
    node_text_max_tokens: int = 128
    # Centre and scale the node text features on the training graph before the node MLP (see
    # GraphEncoder.text_mean). Not in the paper.
    standardize_node_text: bool = True
    gat_layers: int = 2
    gat_heads: int = 4
    edge_dim: int = 16
    dropout: float = 0.1
    max_nodes: int = 64  # graph tokens per query: the ego subgraph is cut to its first max_nodes nodes
    # Ablation switches (the paper's table).
    use_edge_features: bool = True
    use_coordinates: bool = True
    node_encoder_only: bool = False  # skip message passing: node text (+coords) MLP only
    # Also add a learnt map of each item's pooled graph tokens to its pooled embedding (zero at the start, so
    # training begins exactly at the stage-1 model). Not in the paper: a random-weight 2-layer LM (the tiny
    # test/demo backbone) carries little soft-token content to the last token (before node-text
    # standardisation its graph tokens even collapsed to one "graph present" vector, cosine 0.9999 after
    # training). Real backbones keep it off.
    late_fusion: bool = False
    # How late fusion pools an item's node tokens: "mean", or "attention" (a learnt score per token, softmaxed
    # within the item; starts as the mean).
    late_fusion_pool: Literal["mean", "attention"] = "mean"


class OptimConfig(_Strict):
    lr: float = Field(5e-5, gt=0.0)
    graph_lr: float | None = None  # stage 2: learning rate of the graph encoder (None = lr)
    # Learning rate of the backbone modules that train fully next to the LoRA (the family's trainable_modules:
    # MiniLM-VLM's random vision tower and projector), in both stages; None = the LoRA's. Why apart: a tower that
    # starts from random weights wants a larger step than a LoRA on a pretrained LM tolerates (MiniLM-VLM: LoRA
    # at 1e-3 collapsed the loss to uniform within 20 steps; at 5e-4 the tower learnt slowly).
    vision_lr: float | None = Field(None, gt=0.0)
    backbone_lr_scale: float = 1.0  # stage 2: LoRA/backbone lr = lr * backbone_lr_scale (paper: 0.1)
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    max_grad_norm: float | None = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


class TrainConfig(_Strict):
    stage: Literal[1, 2] = 1
    output_dir: str = "outputs/uge"
    seed: int = 42
    epochs: float = Field(1.0, gt=0.0)
    # overrides epochs when set; >= 1 (0 or a negative count would train nothing, or silently one epoch)
    max_steps: int | None = Field(None, ge=1)
    per_device_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradcache_chunk_size: int | None = Field(None, ge=1)  # None: no GradCache; else encode in chunks of this many items
    save_every_steps: int | None = Field(None, ge=1)  # None: only at the end
    save_total_limit: int | None = Field(2, ge=1)
    eval_every_steps: int | None = Field(None, ge=1)
    # views of data.eval_split the learning curve ranks (evenly spaced; None: all). A city-scale val split of
    # thousands of views would make every evaluation cost more than the steps between them.
    eval_max_views: int | None = Field(600, ge=2)
    log_every_steps: int = Field(10, ge=1)
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # auto: bf16 on GPU, no on CPU
    resume_from: str | None = None  # "latest" or a checkpoint dir
    init_adapter: str | None = None  # stage 2: the stage-1 checkpoint to start from
    stage2_only: bool = False  # ablation: stage 2 without a stage-1 adapter
    # Stage 2: also take the stage-1 projection head from init_adapter (false: LoRA and trained modules only, the
    # head starts fresh from the seed). Why the option: stage 1 sees no place name in any image and trains the
    # names out of the caption embedding, which leaves the graph's node names nothing to match; a fresh head was
    # tried as a remedy and did not bring them back on MiniLM-VLM (docs/training.md, "Why (b) fails").
    init_projection: bool = True
    stop_after_steps: int | None = Field(None, ge=1)  # testing: exit (as if killed) after this many optimizer steps
    cpu: bool = False  # force CPU even where a GPU exists


class LoggingConfig(_Strict):
    wandb: Literal["offline", "online", "disabled"] = "offline"
    wandb_project: str = "uge"
    tensorboard: bool = True
    progress: bool = True
    run_name: str | None = None


class UGEConfig(_Strict):
    backbone: BackboneConfig
    data: DataConfig
    lora: LoraConfig = Field(default_factory=LoraConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    graph: GraphEncoderConfig = Field(default_factory=GraphEncoderConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _check(self) -> UGEConfig:
        if self.train.stage == 2 and self.train.init_adapter is None and not self.train.stage2_only:
            raise ValueError(
                "train.stage=2 needs train.init_adapter (the stage-1 checkpoint directory); "
                "set train.stage2_only=true to train stage 2 from the bare backbone (the paper's ablation)"
            )
        for d in self.embedding.matryoshka_dims:
            full = self.embedding.projection_dim
            if full is not None and d > full:
                raise ValueError(f"embedding.matryoshka_dims has {d} > projection_dim {full}")
        unknown = set(self.data.pair_types) - set(PAIR_TYPES)
        if unknown:
            raise ValueError(f"data.pair_types has unknown pair type(s) {sorted(unknown)}; known: {list(PAIR_TYPES)}")
        if self.data.pair_types.get("graph_caption") and self.train.stage != 2:
            raise ValueError("data.pair_types graph_caption needs train.stage=2 (its queries are graph soft tokens)")
        return self


PAIR_TYPES = ("image_caption", "image_path", "text_image", "fusion_caption", "graph_caption")


# ---------------------------------------------------------------------------------------------------
# Loading, overrides, errors


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        dotted = f"{prefix}{name}"
        out.append(dotted)
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_all_keys(ann, dotted + "."))
    return out


def _suggest(key: str) -> str:
    keys = _all_keys(UGEConfig)
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not close:
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in keys}
        leaf_close = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.6)
        close = [by_leaf[leaf_close[0]]] if leaf_close else []
    return f" Did you mean '{close[0]}'?" if close else ""


def _parse_value(text: str) -> Any:
    """Parse an override value as YAML (so 1e-4, true, [q_proj, v_proj], null all work)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a nested mapping (in place) and return it."""
    for ov in overrides:
        if "=" not in ov:
            raise UserError(f"override '{ov}' is not of the form key.subkey=value (e.g. train.lr=1e-4)")
        key, value = ov.split("=", 1)
        key = key.strip().lstrip("-")
        parts = key.split(".")
        node = raw
        for p in parts[:-1]:
            if not isinstance(node.get(p, {}), dict):
                raise UserError(f"override '{ov}': '{p}' is not a section")
            node = node.setdefault(p, {})
        node[parts[-1]] = _parse_value(value)
    return raw


def _format_error(e: ValidationError, source: str) -> str:
    msgs = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            msgs.append(f"unknown key '{loc}'.{_suggest(loc)}")
        elif err["type"] == "missing":
            msgs.append(f"missing required key '{loc}'")
        else:
            where = f"'{loc}': " if loc else ""
            got = f" (got {err['input']!r})" if err["type"] in ("greater_than_equal", "greater_than", "less_than",
                                                                 "less_than_equal") else ""
            msgs.append(f"{where}{err['msg']}{got}")
    return f"invalid config {source}: " + "; ".join(msgs)


def config_from_dict(raw: dict[str, Any], source: str = "(dict)") -> UGEConfig:
    try:
        return UGEConfig.model_validate(raw)
    except ValidationError as e:
        raise UserError(_format_error(e, source)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> UGEConfig:
    """Read a YAML config (merged over its `_base_` files), apply dotted overrides, validate. Errors are
    UserErrors naming the key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found; see configs/uge/ for examples")
    raw = _read_with_bases(path, ())
    apply_overrides(raw, list(overrides or []))
    return config_from_dict(raw, str(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:  # one line: what is wrong and where (PyYAML's own text spans several lines)
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML{where}: {what}; fix the file (see configs/uge/ "
                        "for examples)") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping at the top level")
    return raw


def _read_with_bases(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Config inheritance: `_base_: other.yaml` (or a list of files, merged in order), relative to the file's
    folder. Each base is resolved first (its own bases included, depth-first), then this file is merged over
    it: a section (backbone, data, train, ...) merges key by key, any other value, including a mapping such as
    data.pair_types, replaces the base's. A file that is its own base, directly or not, is refused."""
    real = path.resolve()
    if real in chain:
        loop = " -> ".join(p.name for p in (*chain[chain.index(real):], real))
        raise UserError(f"config file {path}: _base_ refers back to itself ({loop}); remove one of these _base_ keys")
    raw = _read_yaml(path)
    bases = raw.pop("_base_", None)
    if bases is None:
        return raw
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not bases or not all(isinstance(b, str) and b for b in bases):
        raise UserError(f"config file {path}: _base_ must be a file name or a list of file names (relative to "
                        f"the file's folder), got {bases!r}")
    merged: dict[str, Any] = {}
    for b in bases:
        base_path = path.parent / b
        if not base_path.is_file():
            raise UserError(f"config file {path}: its _base_ {b} is not a file (looked for {base_path}); "
                            "_base_ paths are relative to the config file's folder")
        merged = _merge_sections(merged, _read_with_bases(base_path, (*chain, real)), UGEConfig)
    return _merge_sections(merged, raw, UGEConfig)


def _merge_sections(base: dict[str, Any], over: dict[str, Any], model: type[BaseModel] | None) -> dict[str, Any]:
    """`over` merged onto `base`: keys that are config sections of `model` merge recursively, others replace."""
    out = dict(base)
    for k, v in over.items():
        field = model.model_fields.get(k) if model is not None else None
        sub = field.annotation if field is not None else None
        if isinstance(sub, type) and issubclass(sub, BaseModel) and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_sections(out[k], v, sub)
        else:
            out[k] = v
    return out


def dump_config(cfg: UGEConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def save_config(cfg: UGEConfig, path: str | Path) -> None:
    from ugcore.atomic import write_text_atomic

    write_text_atomic(path, dump_config(cfg))
