"""LoRA adapters: a saved adapter reloads to identical embeddings, different from the base; bad or
mismatched adapters fail loudly instead of silently running the bare base model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from ugcore.backbones import load_backbone
from ugcore.errors import UserError

INSTR = "Find the street"


def _trained_adapter(path, out, seed=0):
    """A LoRA with non-zero B matrices (as after training), saved with save_adapter."""
    bb = load_backbone(path)
    torch.manual_seed(seed)
    bb.apply_lora(r=4, alpha=8, dropout=0.0, init_lora_weights=False)
    bb.save_adapter(out)
    return bb


@pytest.mark.parametrize("name", ["tiny-qwen2-vl", "tiny-llava-next"])
def test_adapter_round_trip(name, tiny_paths, loaded, mixed_items, tmp_path):
    out = tmp_path / "adapter"
    bb = _trained_adapter(tiny_paths[name], out)
    trainable = [n for n, p in bb.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    with torch.no_grad():
        live = bb.embed(mixed_items, INSTR)
        base = loaded(name).embed(mixed_items, INSTR)
        via_path = load_backbone(tiny_paths[name], adapter_path=out).embed(mixed_items, INSTR)
        via_dir = load_backbone(out).embed(mixed_items, INSTR)  # adapter folder alone: base from its record
    assert torch.equal(live, via_path) and torch.equal(live, via_dir)
    assert (live - base).abs().max() > 1e-3, "the adapter must change the embeddings"


def test_adapter_is_trainable_only_when_asked(tiny_paths, tmp_path):
    _trained_adapter(tiny_paths["tiny-qwen2-vl"], tmp_path / "a")
    frozen = load_backbone(tiny_paths["tiny-qwen2-vl"], adapter_path=tmp_path / "a")
    assert not any(p.requires_grad for p in frozen.model.parameters()) and not frozen.model.training
    train = load_backbone(tiny_paths["tiny-qwen2-vl"], adapter_path=tmp_path / "a", trainable=True)
    names = [n for n, p in train.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names) and train.model.training


def test_adapter_without_weights_is_refused(tiny_paths, tmp_path):
    out = tmp_path / "adapter"
    _trained_adapter(tiny_paths["tiny-qwen2-vl"], out)
    (out / "adapter_model.safetensors").unlink()
    with pytest.raises(UserError, match="no adapter weights"):
        load_backbone(tiny_paths["tiny-qwen2-vl"], adapter_path=out)
    with pytest.raises(UserError, match="no adapter_config.json"):
        load_backbone(tiny_paths["tiny-qwen2-vl"], adapter_path=tmp_path)


def test_mismatched_adapter_is_refused(tiny_paths, tmp_path):
    out = tmp_path / "qwen-adapter"
    _trained_adapter(tiny_paths["tiny-qwen2-vl"], out)
    # With our backbone record: the fingerprint names the mismatch.
    with pytest.raises(UserError, match="does not match backbone"):
        load_backbone(tiny_paths["tiny-llava-next"], adapter_path=out)
    # A plain peft adapter (no record) on a backbone of another width: peft's shape error, made clear.
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    (plain / "ug_backbone.json").unlink()
    narrow = tmp_path / "narrow.yaml"
    import yaml

    from ugcore.backbones.tiny import configs_dir

    cfg = yaml.safe_load((configs_dir() / "tiny-llava-next.yaml").read_text())
    cfg["text"]["hidden_size"] = 32
    narrow.write_text(yaml.safe_dump(cfg))
    from ugcore.backbones import build_tiny_backbone

    narrow_path = build_tiny_backbone(narrow, tmp_path / "narrow-model")
    with pytest.raises(UserError, match="does not fit backbone"):
        load_backbone(narrow_path, adapter_path=plain)


def test_adapter_whose_keys_match_nothing_is_refused(tiny_paths, tmp_path):
    """peft only warns when saved keys match no module; the backbone layer must refuse."""
    out = tmp_path / "adapter"
    _trained_adapter(tiny_paths["tiny-qwen2-vl"], out)
    state = load_file(str(out / "adapter_model.safetensors"))
    save_file(
        {k.replace("language_model", "lang_model"): v for k, v in state.items()},
        str(out / "adapter_model.safetensors"),
    )
    with pytest.raises(UserError, match="match no module"):
        load_backbone(tiny_paths["tiny-qwen2-vl"], adapter_path=out)


def test_adapter_record_is_written(tiny_paths, tmp_path):
    out = tmp_path / "adapter"
    _trained_adapter(tiny_paths["tiny-qwen2.5-vl"], out)
    rec = json.loads((out / "ug_backbone.json").read_text())
    assert rec["family"] == "qwen2_5_vl" and rec["base_config"] == "tiny-qwen2.5-vl"
    assert rec["fingerprint"]["hidden_size"] == 64
