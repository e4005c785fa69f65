"""Run logging: metrics.jsonl (always), TensorBoard, wandb (offline by default) and a rich progress bar.

metrics.jsonl is the source of truth for plots and tests (one JSON object per logged step); TensorBoard and
wandb are views of the same numbers. Only the main process logs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .config import UGEConfig


def keep_records_until(path: Path, step: int) -> None:
    """Before a run resumed from its checkpoint at `step` appends: drop the records of later steps (logged by
    the run that was killed, and about to be logged again) and a line the kill tore, so that metrics.jsonl
    reads as if the run had never stopped (each step once)."""
    from ugcore.atomic import write_text_atomic

    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and not (isinstance(rec.get("step"), int) and rec["step"] > step):
            keep.append(line + "\n")
    write_text_atomic(path, "".join(keep))


class Tracker:
    def __init__(self, cfg: UGEConfig, run_dir: Path, *, main: bool, total_steps: int, start_step: int,
                 resumed: bool = False):
        self.main = main
        self.run_dir = run_dir
        self.tb = None
        self.wandb = None
        self.progress = None
        self.task = None
        if not main:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        # a resumed run continues the records up to its checkpoint and appends; a new run starts afresh
        if resumed:
            keep_records_until(run_dir / "metrics.jsonl", start_step)
        self.jsonl = open(run_dir / "metrics.jsonl", "a" if resumed else "w", encoding="utf-8")  # noqa: SIM115
        if cfg.logging.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        mode = os.environ.get("WANDB_MODE", cfg.logging.wandb) if cfg.logging.wandb != "disabled" else "disabled"
        if mode != "disabled":
            import wandb

            self.wandb = wandb.init(
                project=cfg.logging.wandb_project,
                name=cfg.logging.run_name or run_dir.name,
                dir=str(run_dir),
                mode=mode,
                config=cfg.model_dump(mode="json"),
                resume="allow",
                id=(cfg.logging.run_name or run_dir.name).replace("/", "_"),
            )
        if cfg.logging.progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn(f"stage {cfg.train.stage}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=total_steps, completed=start_step, info="")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.main:
            return
        rec = {"step": step, **metrics}
        self.jsonl.write(json.dumps(rec) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)

    def advance(self, step: int, info: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, info=info)

    def close(self) -> None:
        if not self.main:
            return
        if self.progress is not None:
            self.progress.stop()
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
