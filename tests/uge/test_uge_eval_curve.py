"""train.eval_every_steps writes the learning curve (held-out MRR from step 0, the untrained model, on) to
metrics.jsonl, and evaluating during training changes nothing about the training itself."""

from __future__ import annotations

import json

import torch
from conftest import standin_config
from safetensors.torch import load_file

from uge.config import config_from_dict
from uge.train import train


def test_eval_records_from_step_zero_and_training_unchanged(fake_data, tmp_path):
    section = {"max_steps": 4, "stage": 2, "stage2_only": True}
    with_eval = standin_config(fake_data, tmp_path / "e", train={**section, "eval_every_steps": 2})
    without = standin_config(fake_data, tmp_path / "n", train=dict(section))
    a, b = train(config_from_dict(with_eval)), train(config_from_dict(without))
    recs = [json.loads(line) for line in (tmp_path / "e" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in recs if "eval/mrr" in r]
    assert [r["step"] for r in evals] == [0, 2, 4]
    assert all(0.0 < r["eval/mrr"] <= 1.0 for r in evals)
    for name in ("uge_heads.safetensors", "adapter/adapter_model.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name
