"""Config system: strict keys with suggestions, dotted overrides, shipped configs all valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ugcore.errors import UserError
from uge.config import config_from_dict, dump_config, load_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, raw) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


BASE = {"backbone": {"name_or_path": "tiny-qwen2-vl"}, "data": {"path": "/nowhere"}}


def test_unknown_key_is_named_with_suggestion(tmp_path):
    raw = {**BASE, "optim": {"lerning_rate": 1e-4}}
    with pytest.raises(UserError) as e:
        load_config(_write(tmp_path, raw))
    msg = str(e.value)
    assert "optim.lerning_rate" in msg and "Did you mean" in msg
    with pytest.raises(UserError, match="unknown key 'trian'.*Did you mean 'train'"):
        load_config(_write(tmp_path, {**BASE, "trian": {"lr": 1}}))


def test_overrides_typed_and_checked(tmp_path):
    p = _write(tmp_path, BASE)
    cfg = load_config(p, ["optim.lr=1e-4", "lora.r=8", "lora.target_modules=[q_proj,k_proj]", "train.max_steps=null"])
    assert cfg.optim.lr == 1e-4 and cfg.lora.r == 8 and cfg.lora.target_modules == ["q_proj", "k_proj"]
    with pytest.raises(UserError, match="lora.rank.*Did you mean 'lora.r'"):
        load_config(p, ["lora.rank=8"])
    with pytest.raises(UserError, match="key.subkey=value"):
        load_config(p, ["lora.r"])
    with pytest.raises(UserError, match="lora.r"):
        load_config(p, ["lora.r=zero"])


def test_stage2_needs_init_adapter_or_ablation():
    with pytest.raises(UserError, match="init_adapter"):
        config_from_dict({**BASE, "train": {"stage": 2}})
    cfg = config_from_dict({**BASE, "train": {"stage": 2, "stage2_only": True}})
    assert cfg.train.stage == 2


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(_write(tmp_path, BASE), ["loss.temperature=0.05"])
    again = config_from_dict(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "uge").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg.backbone.name_or_path
    if cfg.train.stage == 2:
        assert cfg.train.init_adapter or cfg.train.stage2_only
