"""Run under `accelerate launch --config_file configs/accelerate/cpu_2proc.yaml` by test_uge_distributed.py.

argv: DATA_DIR OUT_DIR. Writes OUT_DIR/loss_rank<r>.pt (loss check) and trains a few steps into OUT_DIR/run,
then OUT_DIR/params_rank<r>.pt (every process's trainable parameters after training).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import standin_config  # noqa: E402

from uge.config import config_from_dict  # noqa: E402
from uge.distributed import all_reduce_grads, world  # noqa: E402
from uge.losses import info_nce  # noqa: E402
from uge.train import Trainer  # noqa: E402


def loss_check(out: Path) -> None:
    rank, size = world()
    g = torch.Generator().manual_seed(0)
    xq, xd = torch.randn(size * 3, 8, generator=g), torch.randn(size * 5, 8, generator=g)
    keys = torch.arange(size * 5)
    # rank r holds queries 3r..3r+2 and documents 5r..5r+4; query j of rank r has positives 5r+j and 5r+3+(j%2)
    pos = torch.tensor([[5 * r + j, 5 * r + 3 + j % 2] for r in range(size) for j in range(3)])
    lin = torch.nn.Linear(8, 8)
    torch.nn.init.normal_(lin.weight, generator=torch.Generator().manual_seed(1))
    q = torch.nn.functional.normalize(lin(xq[rank * 3 : (rank + 1) * 3]), dim=-1)
    d = torch.nn.functional.normalize(lin(xd[rank * 5 : (rank + 1) * 5]), dim=-1)
    res = info_nce(q, d, pos[rank * 3 : (rank + 1) * 3], keys[rank * 5 : (rank + 1) * 5], torch.tensor(10.0))
    res.loss.backward()
    all_reduce_grads(list(lin.parameters()))
    torch.save({"loss": res.loss.detach(), "logits_shape": tuple(res.logits.shape), "grad": lin.weight.grad,
                "xq": xq, "xd": xd, "pos": pos, "keys": keys, "weight": lin.weight.detach(), "bias": lin.bias.detach()},
               out / f"loss_rank{rank}.pt")


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    raw = standin_config(data, out / "run", train={"max_steps": 3, "per_device_batch_size": 3},
                         loss={"hard_negatives": 1}, lora={"dropout": 0.0}, optim={"lr": 5e-3})
    raw["train"]["cpu"] = True
    trainer = Trainer(config_from_dict(raw))  # creates the Accelerator (process group)
    loss_check(out)
    trainer.run()
    rank, _ = world()
    torch.save({n: p.detach().clone() for n, p in trainer.model.trainable_named_parameters()}, out / f"params_rank{rank}.pt")


if __name__ == "__main__":
    main()
