"""Bad input fails before any weights load, with a message naming the thing and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import standin_config
from fakedata import build_fake_ugdata

from ugcore.errors import UserError
from uge.config import config_from_dict, save_config
from uge.train import Trainer, train

ROOT = Path(__file__).resolve().parents[2]


def _trainer(raw):
    return Trainer(config_from_dict(raw))


def test_unknown_backbone(fake_data, tmp_path):
    raw = standin_config(fake_data, tmp_path)
    raw["backbone"]["name_or_path"] = "tiny-qwen2-vll"
    with pytest.raises(UserError, match="unknown backbone 'tiny-qwen2-vll'.*Did you mean 'tiny-qwen2-vl'"):
        _trainer(raw)
    raw["backbone"]["name_or_path"] = "someone/TotallyNotAVLM-7B"
    with pytest.raises(UserError, match="unknown backbone.*Qwen2-VL"):
        _trainer(raw)
    raw["backbone"]["name_or_path"] = "adapter:no_such_module:make"
    with pytest.raises(UserError, match="cannot import no_such_module"):
        _trainer(raw)


def test_missing_image_named(tmp_path):
    data = build_fake_ugdata(tmp_path / "d", n_views=12, missing_image="v0003")
    with pytest.raises(UserError, match=r"row 3 \(image_id v0003\) has no image bytes"):
        _trainer(standin_config(data, tmp_path / "run"))


def test_stage2_needs_graph_fields(tmp_path):
    data = build_fake_ugdata(tmp_path / "d", n_views=12, with_graph=False)
    raw = standin_config(data, tmp_path / "run", train={"stage": 2, "stage2_only": True})
    with pytest.raises(UserError, match=r"lacks column\(s\) \['graph_context'\].*stage 2 needs the graph fields"):
        _trainer(raw)
    _trainer(standin_config(data, tmp_path / "run"))  # stage 1 is fine without them


def test_not_a_ugdata_dir(tmp_path):
    with pytest.raises(UserError, match="not a UGData directory"):
        _trainer(standin_config(tmp_path, tmp_path / "run"))


def test_adapter_must_match_backbone(fake_data, tmp_path):
    # a stage-1 checkpoint whose config names another backbone: refused before loading anything
    other = tmp_path / "other"
    other.mkdir()
    cfg_other = config_from_dict({**standin_config(fake_data, other), "backbone": {"name_or_path": "tiny-qwen2-vl"}})
    save_config(cfg_other, other / "config.yaml")
    raw = standin_config(fake_data, tmp_path / "run", train={"stage": 2, "init_adapter": str(other)})
    with pytest.raises(UserError, match="trained on backbone 'tiny-qwen2-vl' but this config uses 'adapter:standin"):
        _trainer(raw)
    # same backbone name, but the adapter's tensors fit other modules: refused when loading, not silently ignored
    s1 = train(config_from_dict(standin_config(fake_data, tmp_path / "s1", train={"max_steps": 1},
                                               lora={"target_modules": ["k_proj"]})))
    raw = standin_config(fake_data, tmp_path / "s2", train={"stage": 2, "init_adapter": str(s1), "max_steps": 1})
    t = _trainer(raw)
    with pytest.raises(UserError, match="does not match|lacks"):
        t.build()


def test_cli_unknown_key_one_line(fake_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(standin_config(fake_data, tmp_path / "run")))
    proc = subprocess.run([sys.executable, "-m", "uge.cli", "train", "--config", str(cfg), "optim.lerning_rate=1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "unknown key 'optim.lerning_rate'" in err and "Traceback" not in err and len(err.splitlines()) == 1
