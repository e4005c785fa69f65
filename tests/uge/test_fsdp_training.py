"""FSDP2 on two CPU processes (gloo) under `accelerate launch --config_file configs/accelerate/cpu_2proc_fsdp.yaml`:
the LoRA weights really are sharded, training equals one process on the concatenated batch (so gradients are
reduced exactly once and cross-process negatives keep their gradient), GradCache pads processes to the same
chunk count and gives the same result, and FSDP checkpoints hold full safetensors and resume exactly, with or
without FSDP. Launch-mode refusals (DeepSpeed, FSDP1) are checked in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import standin_config
from fsdp_worker import config

from ugcore.errors import UserError
from uge.config import config_from_dict
from uge.train import Trainer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _single(fake_data: Path, out: Path, **kw) -> Trainer:
    """One process, 6 examples per step: the global batch of 2 processes x 3, else the worker's config."""
    trainer = Trainer(config_from_dict(config(fake_data, out, per_device=6, **kw)))
    trainer.run()
    return trainer


def _params(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.model.trainable_named_parameters()}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol), (k, float((a[k] - b[k]).abs().max()))


@pytest.fixture(scope="module")
def fsdp_runs(fake_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fsdp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "configs/accelerate/cpu_2proc_fsdp.yaml"),
           "--fsdp_transformer_layer_cls_to_wrap", "Block",  # the stand-in backbone's decoder layer
           str(HERE / "fsdp_worker.py"), str(fake_data), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _load(out: Path, name: str) -> tuple[dict, dict]:
    return tuple(torch.load(out / f"{name}_rank{r}.pt", weights_only=False) for r in (0, 1))  # type: ignore[return-value]


def test_fsdp_shards_and_matches_one_process(fsdp_runs, fake_data, tmp_path):
    r0, r1 = _load(fsdp_runs, "run")
    # FSDP was really on: both decoder layers are units, every LoRA tensor is a DTensor holding half the rows
    assert r0["units"] == ["lm.base_model.model.layers.0", "lm.base_model.model.layers.1"]
    assert r0["sharded"] == sorted(r0["params"]) and all("lora_" in n for n in r0["sharded"])
    for n, full in r0["params"].items():
        assert r0["local_numel"][n] + r1["local_numel"][n] == full.numel() and r0["local_numel"][n] < full.numel()
    # both processes end with the same weights ...
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    # ... equal to one process on the same global batch (3 + 3 examples per step)
    single = _single(fake_data, tmp_path / "single")
    _close(r0["params"], _params(single), atol=1e-5)
    moved = [n for n, p in r0["params"].items() if "lora_B" in n and float(p.abs().sum()) > 0]
    assert moved
    # the logged losses used both processes' documents, step by step
    m2 = [json.loads(x) for x in (fsdp_runs / "run" / "metrics.jsonl").read_text().splitlines()]
    m1 = [json.loads(x) for x in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    assert [r["docs_per_query_batch"] for r in m2] == [r["docs_per_query_batch"] for r in m1]
    for a, b in zip(m2, m1, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5
        assert abs(a["grad_norm"] - b["grad_norm"]) < 1e-4  # clipping over sharded + replicated gradients


def test_fsdp_stage2_gradcache_pads_chunks_and_matches(fsdp_runs, fake_data, tmp_path):
    g0, g1 = _load(fsdp_runs, "gc")
    # the processes held different numbers of items at some step, and both ran the larger chunk count
    counts = list(zip(g0["chunk_counts"], g1["chunk_counts"], strict=True))
    assert len(counts) == 3 and any(a[0] != b[0] for a, b in counts)
    for a, b in counts:
        assert a[1] == b[1] == max(a[0], b[0])
    for k in g0["params"]:
        assert torch.equal(g0["params"][k], g1["params"][k]), k
    # the heads stayed out of FSDP (replicated, all-reduced); the LoRA weights were sharded
    assert any(k.startswith("graph_encoder.") for k in g0["params"]) and "proj.weight" in g0["params"]
    assert g0["sharded"] == sorted(k for k in g0["params"] if "lora_" in k)
    # GradCache with padded chunks under FSDP = one process on the whole batch (GradCache, nothing to pad).
    # (Measured: every tensor within 2e-5, as the DDP path, except graph_encoder.input_proj.weight at 1.4e-4 since
    # the node text is standardised (unit-scale inputs): Adam's normalised step on near-zero gradients amplifies
    # summation-order noise. Both processes hold identical weights, checked above.)
    single = _single(fake_data, tmp_path / "single_s2", stage2=True, gradcache_chunk_size=2)
    _close(g0["params"], _params(single), atol=3e-4)
    fresh = Trainer(config_from_dict(config(fake_data, tmp_path / "u", stage2=True)))
    fresh.build()
    untrained = _params(fresh)
    moved = max(float((g0["params"][k] - untrained[k]).abs().max()) for k in g0["params"] if k.startswith("graph_encoder."))
    assert moved > 1e-3  # the graph encoder trained: beyond the tolerance above


def test_fsdp_checkpoints_are_full_and_resume(fsdp_runs, fake_data, tmp_path):
    from safetensors.torch import load_file

    final, _ = _load(fsdp_runs, "run")
    # the adapter written under FSDP holds full tensors, equal to the gathered weights
    ad = load_file(str(fsdp_runs / "run" / "final" / "adapter" / "adapter_model.safetensors"))
    assert len(ad) == len(final["params"])
    for n, p in final["params"].items():
        key = n.removeprefix("lm.").replace(".default.", ".")
        assert torch.equal(ad[key], p), n
    # resumed under FSDP from checkpoint-2: exactly the uninterrupted run
    resumed, _ = _load(fsdp_runs, "resumed")
    for k in final["params"]:
        assert torch.equal(resumed["params"][k], final["params"][k]), k
    # and the same checkpoint resumes in one process without FSDP (same global batch)
    single = _single(fake_data, tmp_path / "from_fsdp", resume_from=str(fsdp_runs / "run" / "checkpoint-2"))
    _close(_params(single), final["params"], atol=1e-5)


def test_deepspeed_launch_is_refused(fake_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch` sets for a DeepSpeed config
    with pytest.raises(UserError, match="DeepSpeed launches are not supported.*multi_gpu_ddp.yaml"):
        Trainer(config_from_dict(standin_config(fake_data, tmp_path / "ds")))


@pytest.mark.parametrize(("env", "match"), [
    ({"FSDP_VERSION": "1"}, "fsdp_version: 1"),
    ({"FSDP_VERSION": "2", "FSDP_ACTIVATION_CHECKPOINTING": "true"}, "fsdp_activation_checkpointing"),
    ({"FSDP_VERSION": "2", "FSDP_AUTO_WRAP_POLICY": "SIZE_BASED_WRAP"}, "SIZE_BASED_WRAP"),
])
def test_unsupported_fsdp_settings_are_refused(env, match, monkeypatch):
    from accelerate import Accelerator

    from uge.sharding import fsdp_settings

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(UserError, match=match):
        fsdp_settings(Accelerator(cpu=True))
