"""UGE checkpoints: everything needed to use the model, and to resume training exactly.

    checkpoint-<step>/
      adapter/                 peft LoRA adapter (adapter_model.safetensors + adapter_config.json)
      uge_heads.safetensors    projection, temperature and stage-2 graph encoder weights
      config.yaml              the resolved UGEConfig
      processor/               the backbone's processor / tokenizer
      ugbench_model.json       {"loader": "uge.embedder:load_checkpoint", ...}: `ugbench evaluate --model DIR`
      trainer_state.json       step, epoch, position in the epoch, total steps
      optimizer.pt scheduler.pt rng_state_<rank>.pth

A checkpoint directory is written to a temporary sibling and renamed into place (ugcore.atomic), so a
kill during saving never leaves a half checkpoint that resume would pick up.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ugcore.atomic import atomic_dir, write_json_atomic
from ugcore.errors import UserError

from .config import UGEConfig, load_config, save_config

HEADS = "uge_heads.safetensors"
STATE = "trainer_state.json"
CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainerState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    step_in_epoch: int = 0
    total_steps: int = 0
    steps_per_epoch: int = 0


def rng_state() -> dict[str, Any]:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def heads_state(model) -> dict[str, torch.Tensor]:
    sd = {}
    for prefix, mod in (("proj.", model.proj), ("temperature.", model.temperature), ("graph_encoder.", model.graph_encoder)):
        if mod is not None:
            for k, v in mod.state_dict().items():
                sd[prefix + k] = v.detach().cpu().contiguous()
    return sd


def save_model_files(model, cfg: UGEConfig, out: Path, *, name: str) -> None:
    """The files that make `out` a usable model (no trainer state)."""
    from safetensors.torch import save_file

    if cfg.lora.enabled:
        model.adapter.save_adapter(str(out / "adapter"))
    save_file(heads_state(model), str(out / HEADS))
    save_config(cfg, out / "config.yaml")
    (out / "processor").mkdir(exist_ok=True)
    model.adapter.save_processor(str(out / "processor"))
    modalities = ["text", "image"] + (["graph"] if cfg.train.stage == 2 else [])
    write_json_atomic(out / "ugbench_model.json", {
        "loader": "uge.embedder:load_checkpoint",
        "name": name,
        "backbone": cfg.backbone.name_or_path,
        "stage": cfg.train.stage,
        "embed_dim": model.embed_dim,
        "modalities": modalities,
        "pooling": model.pooling,
        "normalized": cfg.embedding.normalize,
        "training_data": cfg.data.path,
    })


def save_checkpoint(
    model, cfg: UGEConfig, run_dir: Path, state: TrainerState, optimizer, scheduler, rng_states: list[dict], *,
    name: str, keep: int | None,
) -> Path:
    """Write checkpoint-<step> atomically (main process only) and prune old ones."""
    final = run_dir / f"checkpoint-{state.step}"
    with atomic_dir(final, overwrite=True) as tmp:
        save_model_files(model, cfg, tmp, name=name)
        (tmp / STATE).write_text(json.dumps(asdict(state), indent=2))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        for r, st in enumerate(rng_states):
            torch.save(st, tmp / f"rng_state_{r}.pth")
    if keep:
        ckpts = list_checkpoints(run_dir)
        for old in ckpts[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := CKPT_RE.match(p.name))
             and (p / STATE).is_file()]
    return [p for _, p in sorted(found)]


def find_resume(resume_from: str, run_dir: Path) -> Path | None:
    """'latest' -> newest complete checkpoint in run_dir (None when there is none yet); else that folder."""
    if resume_from == "latest":
        ck = list_checkpoints(run_dir)
        return ck[-1] if ck else None
    p = Path(resume_from)
    if not (p / STATE).is_file():
        raise UserError(f"train.resume_from={resume_from}: no {STATE} there; pass a checkpoint-<step> folder or 'latest'")
    return p


def read_checkpoint_config(path: Path) -> UGEConfig:
    cfgp = Path(path) / "config.yaml"
    if not cfgp.is_file():
        raise UserError(f"{path} is not a UGE checkpoint (no config.yaml); pass a checkpoint-<step> or final folder")
    return load_config(cfgp)


def check_same_backbone(ckpt_cfg: UGEConfig, cfg: UGEConfig, what: str, path: Path) -> None:
    """An adapter trained on one backbone cannot be put on another: say so before loading any weights."""
    a, b = ckpt_cfg.backbone.name_or_path, cfg.backbone.name_or_path
    if a != b:
        raise UserError(
            f"{what} {path} was trained on backbone '{a}' but this config uses '{b}'; "
            f"set backbone.name_or_path={a} or pick a checkpoint of '{b}'"
        )
    if ckpt_cfg.lora.enabled != cfg.lora.enabled or (cfg.lora.enabled and (ckpt_cfg.lora.r != cfg.lora.r)):
        raise UserError(f"{what} {path} has LoRA r={ckpt_cfg.lora.r} (enabled={ckpt_cfg.lora.enabled}) but this "
                        f"config has r={cfg.lora.r} (enabled={cfg.lora.enabled}); make them agree")


def load_model_weights(model, path: Path, *, strict_heads: bool = True, projection: bool = True) -> None:
    """Load LoRA + heads from a checkpoint into a model built from a compatible config.

    strict_heads=False (stage-1 -> stage-2 init): the stage-1 checkpoint has no graph encoder.
    projection=False: keep the model's own (fresh) projection head (train.init_projection).
    """
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(path)
    ad = path / "adapter" / "adapter_model.safetensors"
    if model.cfg.lora.enabled:
        if not ad.is_file():
            raise UserError(f"{path} holds no LoRA adapter ({ad} missing); it is not a complete UGE checkpoint")
        sd = load_file(str(ad))
        try:
            res = set_peft_model_state_dict(model.lm, sd)
        except KeyError as e:  # peft looks up each fully trained module's tensors (modules_to_save) by name
            raise UserError(f"adapter {ad} does not match this backbone: it lacks {e} (it was trained on another "
                            "build or version of the backbone)") from None
        unexpected = list(getattr(res, "unexpected_keys", []) or [])
        if unexpected:
            raise UserError(f"adapter {ad} does not match this backbone: {len(unexpected)} tensors fit no module "
                            f"(e.g. {unexpected[0]}); it was trained on a different backbone")
        missing_lora = [k for k in getattr(res, "missing_keys", []) if "lora_" in k]
        if missing_lora:
            raise UserError(f"adapter {ad} lacks {len(missing_lora)} LoRA tensors of this model "
                            f"(e.g. {missing_lora[0]}); it does not match the backbone or LoRA config")
    heads = load_file(str(path / HEADS))
    for prefix, mod in (("proj.", model.proj), ("temperature.", model.temperature), ("graph_encoder.", model.graph_encoder)):
        if mod is None or (prefix == "proj." and not projection):
            continue
        part = {k[len(prefix):]: v for k, v in heads.items() if k.startswith(prefix)}
        if not part and not strict_heads:
            continue
        if prefix == "graph_encoder." and part and "text_mean" not in part:
            # a stage-2 checkpoint from before node-text standardisation: it read the raw features (identity)
            part.setdefault("text_mean", torch.zeros_like(mod.text_mean))
            part.setdefault("text_scale", torch.ones_like(mod.text_scale))
        try:
            mod.load_state_dict(part, strict=True)
        except RuntimeError as e:
            raise UserError(f"{path / HEADS}: '{prefix[:-1]}' weights do not fit this config ({str(e).splitlines()[0]})") from None
