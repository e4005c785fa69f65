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


def test_base_inheritance_depth_first_relative_to_the_file(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "root.yaml").write_text(yaml.safe_dump(
        {**BASE, "lora": {"r": 4, "alpha": 8}, "data": {"path": "/root", "pair_types": {"image_caption": 1.0,
                                                                                         "image_path": 0.5}}}))
    (tmp_path / "shared" / "mid.yaml").write_text(yaml.safe_dump(
        {"_base_": "root.yaml", "lora": {"r": 8}, "optim": {"lr": 1e-3}}))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(
        {"_base_": "shared/mid.yaml", "optim": {"weight_decay": 0.1}, "data": {"pair_types": {"text_image": 1.0}}}))
    cfg = load_config(tmp_path / "child.yaml", ["lora.alpha=16"])
    assert (cfg.lora.r, cfg.lora.alpha) == (8, 16)  # mid over root, then the override
    assert (cfg.optim.lr, cfg.optim.weight_decay) == (1e-3, 0.1)  # sections merge key by key
    assert cfg.data.path == "/root"
    assert cfg.data.pair_types == {"text_image": 1.0}  # a mapping-valued key replaces the base's, not merges
    # a list of bases merges in order, the file itself last
    (tmp_path / "two.yaml").write_text(yaml.safe_dump({"_base_": ["shared/root.yaml", "shared/mid.yaml"],
                                                       "lora": {"dropout": 0.0}}))
    cfg = load_config(tmp_path / "two.yaml")
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (8, 8, 0.0)


@pytest.mark.parametrize("bases, needle", [
    ({"a.yaml": "b.yaml", "b.yaml": "a.yaml"}, "refers back to itself (a.yaml -> b.yaml -> a.yaml)"),
    ({"a.yaml": "a.yaml"}, "refers back to itself (a.yaml -> a.yaml)"),
    ({"a.yaml": "missing.yaml"}, "its _base_ missing.yaml is not a file"),
    ({"a.yaml": 3}, "_base_ must be a file name or a list of file names"),
])
def test_base_problems_are_one_line_errors(tmp_path, bases, needle):
    for name, base in bases.items():
        (tmp_path / name).write_text(yaml.safe_dump({**BASE, "_base_": base}))
    with pytest.raises(UserError) as e:
        load_config(tmp_path / "a.yaml")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_tiny_stage2_inherits_stage1():
    s1 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage1.yaml")
    s2 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage2.yaml")
    assert "_base_" in (ROOT / "configs/uge/tiny-qwen2-vl-stage2.yaml").read_text()
    for section in ("backbone", "data", "embedding", "lora", "loss", "logging"):
        assert getattr(s2, section) == getattr(s1, section), section
    assert (s2.train.stage, s2.train.max_steps, s2.optim.lr, s2.graph.late_fusion_pool) == (2, 300, 5e-3, "attention")
