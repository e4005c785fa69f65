"""Two-process `accelerate launch` training start from an EMPTY cache, as on a new user's machine.

Both processes ask for the tiny backbone at once and build it under a file lock. transformers writes a
model only on torch.distributed rank 0, so when rank 1 took the lock first it used to leave tokenizer,
processor and the "built" marker but no config.json or weights, and every later start failed ("Unrecognized
model ... model_type"). UG_TEST_LOCK_DELAY holds one rank back before the lock, forcing each order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ugcore.backbones.tiny import TINY_MARKER, check_tiny_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("late", ["0", "1"], ids=["rank1-builds", "rank0-builds"])
def test_two_process_start_builds_a_complete_backbone(fake_data, tmp_path, late):
    cache, hf = tmp_path / "ug-cache", tmp_path / "hf-home"
    env = {**os.environ, "UG_CACHE": str(cache), "HF_HOME": str(hf), "UG_TEST_LOCK_DELAY": f"{late}:2",
           "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "configs/accelerate/cpu_2proc.yaml"), "-m", "uge.train",
           "--config", str(ROOT / "configs/uge/tiny-qwen2-vl-stage1.yaml"), f"data.path={fake_data}",
           "train.cpu=true", "train.max_steps=1", "train.per_device_batch_size=2", "backbone.max_length=32",
           f"train.output_dir={tmp_path / 'run'}", "logging.wandb=disabled", "logging.tensorboard=false",
           "logging.progress=false"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "final" / "ugbench_model.json").is_file()
    (folder,) = [p for p in (cache / "backbones").iterdir() if p.is_dir()]
    marker = json.loads((folder / TINY_MARKER).read_text())
    assert check_tiny_folder(folder, marker) is None  # config with model_type, weights, tokenizer, processor
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= set(marker["files"])
    assert "warning:" not in proc.stderr  # built once, not rebuilt by the second process
    assert not hf.exists() or not [p for p in hf.rglob("*") if p.is_file()]  # nothing lazily put in the HF cache
