"""The UGE training loop (both stages), runnable as `uge train` or `accelerate launch -m uge.train`.

    accelerate launch --config_file configs/accelerate/multi_gpu_ddp.yaml -m uge.train \
        --config configs/uge/qwen2-vl-2b-stage1.yaml train.per_device_batch_size=8

Order of work: validate the config, the dataset (splits, stage-2 graph fields, images) and the backbone
name and any checkpoint it must start from -- all before any weights load -- then build the model, then
train. Each optimizer step consumes (processes x per-device batch x grad-accumulation) examples in an order
that is a pure function of (seed, epoch, step), so a resumed run continues exactly where the killed one
stopped (model, optimizer, scheduler, RNG states and data position are all in the checkpoint).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ugcore.atomic import remove_stale_temps
from ugcore.errors import DataError, UserError
from ugcore.faults import kill_point

from .checkpoint import (
    TrainerState,
    check_same_backbone,
    find_resume,
    list_checkpoints,
    load_model_weights,
    read_checkpoint_config,
    rng_state,
    save_checkpoint,
    save_model_files,
    set_rng_state,
)
from .config import UGEConfig, load_config, save_config
from .data import (
    Example,
    Item,
    PairBuilder,
    StepSampler,
    check_views,
    place_ids,
    stable_key,
    task_instruction_pool,
)
from .distributed import all_reduce_grads, common_count, world
from .gradcache import gradcache_step
from .losses import LossOutput, info_nce
from .model import EncodeInput, UGEModel
from .sharding import (
    DEEPSPEED_UNSUPPORTED,
    FSDPSettings,
    FullOptimizerState,
    clip_grad_norm,
    deepspeed_requested,
    fsdp_requested,
    fsdp_settings,
    full_trainable_state,
    load_optimizer_state,
    shard_model,
    state_dict_override,
)


class SimulatedKill(RuntimeError):
    """Raised by train.stop_after_steps: the run stops as abruptly as a kill (no save) for resume tests."""


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_images(data, split: str) -> None:
    """Every view of the split must carry image bytes (or a readable relative path): fail early, name the row."""
    ds = data.dataset[split].with_format("arrow")
    col = ds.data.column("image") if hasattr(ds, "data") else None
    if col is None:
        raise DataError(f"{data.root}: split '{split}' has no image column")
    ids = ds.data.column("image_id").to_pylist()
    for i, v in enumerate(col.to_pylist()):
        ok = isinstance(v, dict) and (v.get("bytes") or (v.get("path") and (data.root / v["path"]).is_file()))
        if not ok:
            raise DataError(
                f"{data.root}: split '{split}' row {i} (image_id {ids[i]}) has no image bytes or readable file; "
                "rebuild the dataset with the images present (`ugdata build ... --images DIR`)"
            )


class ImageCache:
    """A small LRU over decoded PIL images (hard negatives and positives reuse images within a step)."""

    def __init__(self, data, size: int = 512, max_side: int | None = None):
        self.data, self.size, self.max_side = data, size, max_side
        self._c: OrderedDict[str, Any] = OrderedDict()

    def __call__(self, image_id: str):
        if image_id in self._c:
            self._c.move_to_end(image_id)
            return self._c[image_id]
        img = self.data.image(image_id)
        if self.max_side and max(img.size) > self.max_side:
            img = img.copy()
            img.thumbnail((self.max_side, self.max_side))
        self._c[image_id] = img
        if len(self._c) > self.size:
            self._c.popitem(last=False)
        return img


def to_inputs(items: list[Item], images: ImageCache) -> list[EncodeInput]:
    return [EncodeInput(text=i.text, image=images(i.image_id) if i.image_id else None, instruction=i.instruction,
                        graph=i.graph) for i in items]


def flatten(examples: list[Example], max_pos: int) -> tuple[list[Item], list[Item], torch.Tensor, torch.Tensor]:
    """(queries, documents, positive keys (Q, max_pos) -1 padded, document keys (M,))."""
    queries = [e.query for e in examples]
    docs: list[Item] = []
    pos = torch.full((len(examples), max_pos), -1, dtype=torch.long)
    for qi, e in enumerate(examples):
        for pi, p in enumerate(e.positives[:max_pos]):
            pos[qi, pi] = stable_key(p.key)
        docs.extend(e.positives[:max_pos])
        docs.extend(e.negatives)
    keys = torch.tensor([stable_key(d.key) for d in docs], dtype=torch.long)
    return queries, docs, pos, keys


class Trainer:
    """Builds everything from a UGEConfig; `run()` trains and returns the final checkpoint directory."""

    def __init__(self, cfg: UGEConfig):
        self.cfg = cfg
        t = cfg.train
        from accelerate import Accelerator

        use_cpu = t.cpu or not torch.cuda.is_available()
        mp = t.mixed_precision
        if mp == "auto":
            mp = "no" if use_cpu else "bf16"
        if deepspeed_requested():
            raise UserError(DEEPSPEED_UNSUPPORTED)
        self.accelerator = Accelerator(cpu=use_cpu, mixed_precision=mp)
        self.rank, self.world = world()
        # FSDP (uge/sharding.py): shards the frozen backbone; with one process there is nothing to shard.
        self.fsdp: FSDPSettings | None = None
        if fsdp_requested(self.accelerator) and self.world > 1:
            self.fsdp = fsdp_settings(self.accelerator)
        self.main = self.accelerator.is_main_process
        self.run_dir = Path(t.output_dir)
        if self.main:  # what a run killed mid-save left (temporary checkpoint folders; an old one is put back)
            remove_stale_temps(self.run_dir)
        self.accelerator.wait_for_everyone()  # before any process looks for a checkpoint to resume from
        seed_everything(t.seed)
        self._validate_inputs()

    # --------------------------------------------------------------------------------------- validation

    def _validate_inputs(self) -> None:
        """All cheap checks, before any weights load."""
        import ugdata

        from .backbone import check_backbone

        cfg = self.cfg
        self.data = ugdata.load(cfg.data.path)  # NotUGDataError is a UserError
        if cfg.data.train_split not in self.data.dataset:
            raise DataError(f"{cfg.data.path} has no split '{cfg.data.train_split}'; it has {list(self.data.dataset)}")
        self.views = self.data.views(cfg.data.train_split)
        if cfg.data.max_train_examples:
            self.views = self.views.iloc[: cfg.data.max_train_examples].reset_index(drop=True)
        check_views(self.views, stage=cfg.train.stage, data_dir=cfg.data.path, split=cfg.data.train_split)
        check_images(self.data, cfg.data.train_split)
        check_backbone(cfg.backbone)
        self.init_from: Path | None = None
        if cfg.train.stage == 2 and cfg.train.init_adapter and not cfg.train.stage2_only:
            p = Path(cfg.train.init_adapter)
            check_same_backbone(read_checkpoint_config(p), cfg, "train.init_adapter", p)
            self.init_from = p
        self.resume_path: Path | None = None
        if cfg.train.resume_from:
            self.resume_path = find_resume(cfg.train.resume_from, self.run_dir)
            if self.resume_path is not None:
                check_same_backbone(read_checkpoint_config(self.resume_path), cfg, "train.resume_from", self.resume_path)
        elif list_checkpoints(self.run_dir):
            raise UserError(
                f"{self.run_dir} already holds checkpoints of an earlier run; continue it with train.resume_from=latest "
                "or pick a new train.output_dir (nothing is overwritten)"
            )
        if cfg.train.stage == 2:
            from .graph_data import GraphStore

            self.store = GraphStore(self.data.nodes, self.data.edges)
            for i, ctx in enumerate(self.views["graph_context"]):
                self.store.indices(ctx, cfg.graph.max_nodes, where=f" of {cfg.data.train_split} row {i}")
        else:
            self.store = None

    # --------------------------------------------------------------------------------------- build

    def build(self) -> None:
        from transformers import get_scheduler

        from .backbone import load_adapter

        cfg, t = self.cfg, self.cfg.train
        adapter = load_adapter(cfg.backbone, device=str(self.accelerator.device))
        self.model = UGEModel(adapter, cfg, self.store)
        if self.init_from is not None:
            load_model_weights(self.model, self.init_from, strict_heads=False, projection=cfg.train.init_projection)
        if cfg.train.stage == 2:  # before resume, which restores the fitted statistics
            self.model.fit_graph_text_norm()
        for p in self.model.parameters():  # trainable weights in fp32 (autocast does the bf16 compute)
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()
        if cfg.backbone.gradient_checkpointing:
            self.model.enable_gradient_checkpointing()
        self.model.to(self.accelerator.device)
        if self.resume_path is not None:  # weights before sharding: checkpoints hold full tensors
            load_model_weights(self.model, self.resume_path)
        self.params = [p for _, p in self.model.trainable_named_parameters()]
        self.replicated = self.params  # the parameters whose gradients all_reduce_grads averages
        self.plan_units: list[str] = []  # the layers FSDP shards (empty without FSDP)
        if self.fsdp is not None:
            plan = shard_model(self.model, self.fsdp, self.accelerator.device, [EncodeInput(text="probe")],
                               keep_whole=[self.model.proj, self.model.temperature, self.model.graph_encoder])
            self.params = [p for _, p in self.model.trainable_named_parameters()]  # now partly DTensors
            self.replicated, self.plan_units = plan.replicated, plan.units
            if self.main:
                print(f"FSDP: {len(plan.units)} layers sharded (e.g. {plan.units[0] if plan.units else 'none'}), "
                      f"{len(plan.sharded)} trainable tensors sharded, {len(plan.replicated)} replicated",
                      file=sys.stderr)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(self.model.param_groups(), lr=o.lr, betas=o.betas, eps=o.eps)
        self.global_batch = self.world * t.per_device_batch_size * t.gradient_accumulation_steps
        self.sampler = StepSampler(len(self.views), self.global_batch, t.seed, group_size=cfg.data.place_group_size,
                                   groups=place_ids(self.views) if cfg.data.place_group_size > 1 else None)
        total = t.max_steps if t.max_steps else max(1, math.ceil(t.epochs * self.sampler.steps_per_epoch))
        self.scheduler = get_scheduler(
            cfg.optim.scheduler if cfg.optim.scheduler != "constant" else "constant_with_warmup",
            self.optimizer,
            num_warmup_steps=int(round(o.warmup_ratio * total)),
            num_training_steps=total,
        )
        self.state = TrainerState(total_steps=total, steps_per_epoch=self.sampler.steps_per_epoch)
        self.builder = PairBuilder(
            self.views, pair_types=cfg.data.pair_types, instructions=cfg.data.instructions,
            hard_negatives=cfg.loss.hard_negatives, max_positives=cfg.loss.max_positives,
            with_graph=cfg.train.stage == 2, seed=t.seed,
            instruction_pool=task_instruction_pool(self.data) if cfg.data.task_instruction_prob else None,
            instruction_prob=cfg.data.task_instruction_prob,
        )
        self.images = ImageCache(self.data, max_side=cfg.data.image_size)
        if self.resume_path is not None:
            self._resume(self.resume_path)

    def _resume(self, path: Path) -> None:
        import json

        opt_sd = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
        if self.fsdp is not None:
            load_optimizer_state(self.model, self.optimizer, opt_sd)
        else:
            self.optimizer.load_state_dict(opt_sd)
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", map_location="cpu", weights_only=False))
        st = json.loads((path / "trainer_state.json").read_text())
        if st["total_steps"] != self.state.total_steps or st["steps_per_epoch"] != self.state.steps_per_epoch:
            raise UserError(f"cannot resume from {path}: it planned {st['total_steps']} steps of "
                            f"{st['steps_per_epoch']} per epoch, this config {self.state.total_steps} of "
                            f"{self.state.steps_per_epoch} (batch size, processes or data changed)")
        self.state = TrainerState(**st)
        rng_file = path / f"rng_state_{self.rank}.pth"
        if not rng_file.is_file():
            raise UserError(f"cannot resume from {path}: no {rng_file.name} (was it saved with fewer processes?)")
        set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=False))

    # --------------------------------------------------------------------------------------- steps

    def _loss_fn(self, n_q: int, pos: torch.Tensor, keys: torch.Tensor, scale_div: int):
        cfg = self.cfg

        def fn(reps: torch.Tensor) -> LossOutput:
            dev = reps.device
            out = info_nce(reps[:n_q], reps[n_q:], pos.to(dev), keys.to(dev), self.model.temperature(),
                           gather=cfg.loss.gather_across_processes, matryoshka_dims=tuple(cfg.embedding.matryoshka_dims))
            out.loss = out.loss / scale_div
            return out

        return fn

    def micro_step(self, examples: list[Example]) -> LossOutput:
        cfg = self.cfg
        ga = cfg.train.gradient_accumulation_steps
        queries, docs, pos, keys = flatten(examples, cfg.loss.max_positives)
        inputs = to_inputs(queries + docs, self.images)
        loss_fn = self._loss_fn(len(queries), pos, keys, ga)
        acc = self.accelerator

        def encode(chunk):
            with acc.autocast():
                return self.model(chunk)

        chunk = cfg.train.gradcache_chunk_size
        if chunk:
            chunks = [inputs[i : i + chunk] for i in range(0, len(inputs), chunk)]
            n_chunks = common_count(len(chunks), self.accelerator.device) if self.fsdp is not None else None
            out = gradcache_step(encode, chunks, loss_fn, backward=lambda t: t.backward(), n_chunks=n_chunks)
        else:
            out = loss_fn(encode(inputs))
            out.loss.backward()
            out.loss = out.loss.detach()
        out.loss = out.loss * ga
        return out

    def train_step(self) -> dict[str, float]:
        """One optimizer step (grad accumulation inside); returns metrics."""
        t = self.cfg.train
        rows = self.sampler.rows(self.state.epoch, self.state.step_in_epoch)
        per_rank = t.per_device_batch_size * t.gradient_accumulation_steps
        mine = rows[self.rank * per_rank : (self.rank + 1) * per_rank]
        self.model.train()
        losses, accs, ndocs = [], [], []
        for m in range(t.gradient_accumulation_steps):
            idx = mine[m * t.per_device_batch_size : (m + 1) * t.per_device_batch_size]
            out = self.micro_step([self.builder.example(int(i), self.state.epoch) for i in idx])
            losses.append(float(out.loss))
            accs.append(out.accuracy)
            ndocs.append(out.n_docs)
        all_reduce_grads(self.replicated)  # under FSDP the sharded (LoRA) gradients are already reduced
        gnorm = float("nan")
        if self.cfg.optim.max_grad_norm:
            if self.fsdp is not None:
                gnorm = clip_grad_norm(self.params, self.cfg.optim.max_grad_norm)
            else:
                gnorm = float(torch.nn.utils.clip_grad_norm_(self.params, self.cfg.optim.max_grad_norm))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.step_in_epoch += 1
        if self.state.step_in_epoch >= self.state.steps_per_epoch:
            self.state.epoch += 1
            self.state.step_in_epoch = 0
        loss = torch.tensor(float(np.mean(losses)))
        if self.world > 1:
            torch.distributed.all_reduce(loss)
            loss /= self.world
        return {"loss": float(loss), "local_loss": float(np.mean(losses)), "accuracy": float(np.mean(accs)),
                "docs_per_query_batch": float(np.mean(ndocs)), "grad_norm": gnorm,
                "lr": float(self.scheduler.get_last_lr()[0]), "temperature": float(1.0 / self.model.temperature().detach()),
                "epoch": self.state.epoch + self.state.step_in_epoch / max(1, self.state.steps_per_epoch)}

    def save(self) -> Path:
        rngs = [rng_state()]
        if self.world > 1:
            gathered: list[Any] = [None] * self.world
            torch.distributed.all_gather_object(gathered, rngs[0])
            rngs = gathered
        path = self.run_dir / f"checkpoint-{self.state.step}"
        optimizer = FullOptimizerState(self.model, self.optimizer) if self.fsdp is not None else self.optimizer
        with self._full_weights():
            if self.main:
                save_checkpoint(self.model, self.cfg, self.run_dir, self.state, optimizer, self.scheduler, rngs,
                                name=self.run_name, keep=self.cfg.train.save_total_limit)
        self.accelerator.wait_for_everyone()
        return path

    @contextmanager
    def _full_weights(self) -> Iterator[None]:
        """Under FSDP: gather the sharded trainable tensors (every process must enter), so that saving the peft
        adapter on the main process writes full tensors. Without FSDP: nothing to do."""
        if self.fsdp is None:
            yield
            return
        full = full_trainable_state(self.model.lm)
        with state_dict_override(self.model.lm, full):
            yield

    @property
    def run_name(self) -> str:
        return self.cfg.logging.run_name or self.run_dir.name

    def run(self) -> Path:
        from .tracking import Tracker

        cfg, t = self.cfg, self.cfg.train
        self.build()
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
        tracker = Tracker(cfg, self.run_dir, main=self.main, total_steps=self.state.total_steps, start_step=self.state.step,
                          resumed=self.resume_path is not None)
        try:
            if t.eval_every_steps and self.state.step == 0:  # the curve starts at the untrained model
                tracker.log(0, self.evaluate())
            while self.state.step < self.state.total_steps:
                t0 = time.perf_counter()
                metrics = self.train_step()
                metrics["step_time_s"] = time.perf_counter() - t0
                step = self.state.step
                if step % t.log_every_steps == 0 or step == self.state.total_steps or step == 1:
                    tracker.log(step, metrics)
                tracker.advance(step, f"loss {metrics['loss']:.4f}")
                kill_point(f"uge.step:{step}")
                if t.save_every_steps and step % t.save_every_steps == 0 and step < self.state.total_steps:
                    self.save()
                if t.eval_every_steps and step % t.eval_every_steps == 0:
                    tracker.log(step, self.evaluate())
                if t.stop_after_steps is not None and step >= t.stop_after_steps:
                    raise SimulatedKill(f"stopped after step {step} (train.stop_after_steps)")
            final = self.run_dir / "final"
            self.save()  # every process: the RNG states are gathered
            with self._full_weights():
                if self.main:
                    from ugcore.atomic import atomic_dir

                    with atomic_dir(final, overwrite=True) as tmp:
                        save_model_files(self.model, cfg, tmp, name=self.run_name)
            self.accelerator.wait_for_everyone()
            return final
        finally:
            tracker.close()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out image -> caption retrieval (data.eval_split) for the learning curve in metrics.jsonl.

        Only the main process logs, so only it evaluates (the others go on and wait for it at the next step's
        first collective, the gathering of negatives); under FSDP every process must run each forward, so all do.
        In eval mode nothing is drawn at random (no dropout), so the training that follows is the same with or
        without evaluations."""
        from .quick_eval import caption_retrieval

        if not self.main and self.fsdp is None:
            return {}
        from .embedder import UGEEmbedder

        self.model.eval()
        split = self.cfg.data.eval_split
        # the training graph store serves the evaluation too (same data folder), so the node-feature cache survives
        stores = {str(self.data.root): self.store} if self.store is not None else None
        embedder = UGEEmbedder(self.model, "in-training", stores=stores)
        res = caption_retrieval(embedder, self.data, split, with_graph=self.cfg.train.stage == 2,
                                 limit=self.cfg.train.eval_max_views)
        return {f"eval/{k}": v for k, v in res.items()}


def train(cfg: UGEConfig) -> Path:
    """Train according to `cfg`; returns the final model directory (run_dir/final)."""
    return Trainer(cfg).run()


def main(argv: list[str] | None = None) -> None:
    """`python -m uge.train --config FILE [key=value ...]` (what `accelerate launch -m uge.train` runs)."""
    import argparse

    from rich.console import Console

    ap = argparse.ArgumentParser(prog="uge.train", description="Train a UGE embedder (see `uge train --help`).")
    ap.add_argument("--config", required=True, help="YAML config (configs/uge/*.yaml)")
    ap.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-4 lora.r=8")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        final = train(cfg)
        if world()[0] == 0:
            Console(stderr=True).print(f"[green]done:[/] {final}")
    except UserError as e:
        if os.environ.get("UG_DEBUG"):
            raise
        Console(stderr=True).print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except SimulatedKill as e:
        Console(stderr=True).print(f"[yellow]{e}[/]")
        sys.exit(3)


if __name__ == "__main__":
    main()
