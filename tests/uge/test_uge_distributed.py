"""Two CPU processes under `accelerate launch`: negatives come from both, gradients and parameters agree
with a single process on the concatenated batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from conftest import standin_config

from uge.config import config_from_dict
from uge.losses import info_nce
from uge.train import Trainer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_two_processes_match_one(fake_data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "configs/accelerate/cpu_2proc.yaml"), str(HERE / "dist_worker.py"), str(fake_data), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # 1) the loss sees every process's documents, and gradients (with the autograd gather) are exact
    r0, r1 = (torch.load(tmp_path / f"loss_rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["logits_shape"] == (3, 10) and r1["logits_shape"] == (3, 10)  # 2 processes x 5 documents
    lin = torch.nn.Linear(8, 8)
    with torch.no_grad():
        lin.weight.copy_(r0["weight"])
        lin.bias.copy_(r0["bias"])
    q, d = F.normalize(lin(r0["xq"]), dim=-1), F.normalize(lin(r0["xd"]), dim=-1)
    single = info_nce(q, d, r0["pos"], r0["keys"], torch.tensor(10.0), gather=False)
    single.loss.backward()
    assert torch.allclose((r0["loss"] + r1["loss"]) / 2, single.loss.detach(), atol=1e-6)
    assert torch.allclose(r0["grad"], lin.weight.grad, atol=1e-6)
    assert torch.allclose(r1["grad"], lin.weight.grad, atol=1e-6)

    # 2) after training, both processes hold the same parameters ...
    p0, p1 = (torch.load(tmp_path / f"params_rank{r}.pt") for r in (0, 1))
    assert p0.keys() == p1.keys() and len(p0) > 0
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    # ... equal to one process on the same global batch (3 + 3 examples per step)
    raw = standin_config(fake_data, tmp_path / "single", train={"max_steps": 3, "per_device_batch_size": 6},
                         loss={"hard_negatives": 1}, lora={"dropout": 0.0}, optim={"lr": 5e-3})
    trainer = Trainer(config_from_dict(raw))
    trainer.run()
    moved = 0
    for n, p in trainer.model.trainable_named_parameters():
        assert torch.allclose(p0[n], p.detach(), atol=1e-5), n
        moved += int("lora_B" in n and float(p.detach().abs().sum()) > 0)
    assert moved > 0
    # and the logged loss used both processes' documents (docs per step = documents of all 6 examples)
    m2 = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    m1 = [json.loads(x) for x in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    assert [r["docs_per_query_batch"] for r in m2] == [r["docs_per_query_batch"] for r in m1]
    for a, b in zip(m2, m1, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5
