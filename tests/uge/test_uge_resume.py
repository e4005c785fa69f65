"""Kill-and-resume continues exactly: same final parameters and loss curve as an uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import standin_config
from safetensors.torch import load_file

from uge.config import config_from_dict
from uge.train import SimulatedKill, train


def _final(run):
    a = load_file(str(run / "final" / "adapter" / "adapter_model.safetensors"))
    h = load_file(str(run / "final" / "uge_heads.safetensors"))
    return {**a, **h}


def _losses(run):
    return {r["step"]: r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


@pytest.mark.parametrize("stage", [2])  # stage 2 exercises everything stage 1 does plus GradCache and the graph
def test_kill_and_resume_equals_uninterrupted(fake_data, tmp_path, stage):
    # dropout on, learnable temperature, 2 micro-batches, warmup + schedule: everything resume must restore
    extra = {"train": {"max_steps": 5, "save_every_steps": 2, "gradient_accumulation_steps": 2,
                       "per_device_batch_size": 3, "stage": stage, "stage2_only": stage == 2,
                       "gradcache_chunk_size": 7 if stage == 2 else None},
             "loss": {"learnable_temperature": True, "temperature": 0.05},
             "optim": {"lr": 2e-3, "warmup_ratio": 0.2, "weight_decay": 0.1}}
    full_run, cut_run = tmp_path / "full", tmp_path / "cut"
    train(config_from_dict(standin_config(fake_data, full_run, **{k: dict(v) for k, v in extra.items()})))
    cut = standin_config(fake_data, cut_run, **{k: dict(v) for k, v in extra.items()})
    cut["train"]["stop_after_steps"] = 3  # dies after step 3; the last checkpoint is step 2
    with pytest.raises(SimulatedKill):
        train(config_from_dict(cut))
    assert sorted(p.name for p in cut_run.glob("checkpoint-*")) == ["checkpoint-2"]
    cut["train"]["stop_after_steps"] = None
    cut["train"]["resume_from"] = "latest"
    train(config_from_dict(cut))
    a, b = _final(full_run), _final(cut_run)
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    la, lb = _losses(full_run), _losses(cut_run)
    assert set(la) == {1, 2, 3, 4, 5}
    for s in (3, 4, 5):  # step 3 was run twice in the cut run (before the kill and after resume)
        assert lb[s] == pytest.approx(la[s], abs=1e-6)
    # something was learnt at all (params moved from their initial values)
    assert any(float(v.abs().sum()) > 0 for k, v in a.items() if "lora_B" in k)
