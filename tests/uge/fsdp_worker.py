"""Run under `accelerate launch --config_file configs/accelerate/cpu_2proc_fsdp.yaml` by test_fsdp_training.py.

argv: DATA_DIR OUT_DIR. Three FSDP trainings of the stand-in backbone (3 steps, 3 examples per process):
  run/      plain, a checkpoint at step 2
  gc/       stage 2 (graph encoder, projection, learnable temperature: replicated, outside FSDP) with GradCache
            (chunks of 2: the processes hold different numbers of documents)
  resumed/  resumed from run/checkpoint-2
and per run OUT_DIR/<run>_rank<r>.pt: every trainable parameter gathered to full size, which of them FSDP
sharded, the sharded layers, and the GradCache chunk counts (local, common) each step saw.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import standin_config  # noqa: E402

import uge.train as train_mod  # noqa: E402
from uge.config import config_from_dict  # noqa: E402
from uge.distributed import world  # noqa: E402
from uge.sharding import full_tensor, is_dtensor  # noqa: E402

CHUNK_COUNTS: list[tuple[int, int]] = []
_common_count = train_mod.common_count


def _recording_common_count(n: int, device) -> int:
    out = _common_count(n, device)
    CHUNK_COUNTS.append((n, out))
    return out


train_mod.common_count = _recording_common_count


def config(data: Path, out: Path, per_device: int = 3, stage2: bool = False, **train) -> dict:
    """The runs' config; also used by the test for its one-process references (per_device=6, no cpu flag)."""
    extra = {}
    if stage2:
        train = {"stage": 2, "stage2_only": True, **train}
        extra = {"graph": {"hidden_dim": 32, "edge_dim": 8, "dropout": 0.0}, "embedding": {"projection_dim": 16}}
    raw = standin_config(data, out, train={"max_steps": 3, "per_device_batch_size": per_device, **train},
                         loss={"hard_negatives": 1, "learnable_temperature": stage2}, lora={"dropout": 0.0},
                         optim={"lr": 1e-3 if stage2 else 5e-3}, **extra)
    raw["train"]["cpu"] = True
    return raw


def run(name: str, raw: dict, out: Path) -> None:
    CHUNK_COUNTS.clear()
    trainer = train_mod.Trainer(config_from_dict(raw))
    trainer.run()
    rank, _ = world()
    named = trainer.model.trainable_named_parameters()
    torch.save({
        "params": {n: full_tensor(p.detach()).clone() for n, p in named},
        "sharded": sorted(n for n, p in named if is_dtensor(p)),
        "local_numel": {n: (p.to_local() if is_dtensor(p) else p).numel() for n, p in named},
        "units": trainer.plan_units,
        "chunk_counts": list(CHUNK_COUNTS),
    }, out / f"{name}_rank{rank}.pt")


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    run("run", config(data, out / "run", save_every_steps=2), out)
    run("gc", config(data, out / "gc", stage2=True, gradcache_chunk_size=2), out)
    run("resumed", config(data, out / "resumed", resume_from=str(out / "run" / "checkpoint-2")), out)


if __name__ == "__main__":
    main()
