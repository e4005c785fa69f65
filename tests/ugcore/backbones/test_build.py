"""Tiny backbones: built offline from configs, deterministic, idempotent, and refused when malformed."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import yaml

from ugcore.backbones import build_tiny_backbone, detect_family, load_backbone, resolve_source
from ugcore.backbones.tiny import TINY_MARKER, configs_dir
from ugcore.errors import UserError


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-llava-next"])
def test_build_is_deterministic_and_idempotent(name, tiny_paths, tmp_path):
    first = tiny_paths[name]
    for f in ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json"):
        assert (first / f).is_file(), f
    # Same config and seed in another folder: byte-identical weights and tokenizer.
    again = build_tiny_backbone(name, tmp_path / "again", seed=0)
    assert _digest(again / "model.safetensors") == _digest(first / "model.safetensors")
    assert _digest(again / "tokenizer.json") == _digest(first / "tokenizer.json")
    # Rebuilding into the same folder reuses it (no rewrite).
    mtime = (again / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_backbone(name, tmp_path / "again", seed=0) == again
    assert (again / "model.safetensors").stat().st_mtime_ns == mtime
    # Another seed: other weights, and the folder is rebuilt in place (config hash changed).
    build_tiny_backbone(name, tmp_path / "again", seed=1)
    assert _digest(again / "model.safetensors") != _digest(first / "model.safetensors")
    assert (again / TINY_MARKER).is_file()


def test_family_detection_from_folder_and_hub_ids(tiny_paths):
    assert detect_family(tiny_paths["tiny-qwen2-vl"]).name == "qwen2_vl"
    assert detect_family(tiny_paths["tiny-qwen2.5-vl"]).name == "qwen2_5_vl"
    assert detect_family(tiny_paths["tiny-llava-next"]).name == "llava_next"
    expected = {
        "Qwen/Qwen2-VL-2B-Instruct": "qwen2_vl",
        "Qwen/Qwen2-VL-7B-Instruct": "qwen2_vl",
        "Qwen/Qwen2.5-VL-3B-Instruct": "qwen2_5_vl",
        "Qwen/Qwen2.5-VL-7B-Instruct": "qwen2_5_vl",
        "llava-hf/llava-v1.6-mistral-7b-hf": "llava_next",
        "microsoft/Phi-3-vision-128k-instruct": "phi3_v",
        "Alibaba-NLP/gme-Qwen2-VL-2B-Instruct": "qwen2_vl",
        "TIGER-Lab/VLM2Vec-Qwen2VL-2B": "qwen2_vl",
    }
    for hub_id, family in expected.items():
        assert detect_family(hub_id).name == family, hub_id
    with pytest.raises(UserError, match="supported family"):
        detect_family("bert-base/uncased-thing")


def test_real_configs_name_hub_ids_and_families():
    """Every real backbone config resolves (without downloading) to its hub id and family."""
    want = {
        "qwen2-vl-2b": ("Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl"),
        "qwen2-vl-7b": ("Qwen/Qwen2-VL-7B-Instruct", "qwen2_vl"),
        "qwen2.5-vl-3b": ("Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl"),
        "qwen2.5-vl-7b": ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl"),
        "phi-3-vision": ("microsoft/Phi-3-vision-128k-instruct", "phi3_v"),
        "llava-1.6-mistral-7b": ("llava-hf/llava-v1.6-mistral-7b-hf", "llava_next"),
    }
    for name, (hub_id, family) in want.items():
        r = resolve_source(name)
        assert (r.model_source, r.family.name) == (hub_id, family), name
        # The family guessed from the hub id agrees with the config's declared family.
        assert detect_family(hub_id).name == family


def test_bad_configs_are_refused(tmp_path):
    base = yaml.safe_load((configs_dir() / "tiny-qwen2-vl.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**base, "hiden_size": 64}))
    with pytest.raises(UserError, match="unknown key.*hiden_size"):
        build_tiny_backbone(bad, tmp_path / "out")
    phi = tmp_path / "phi.yaml"
    phi.write_text(yaml.safe_dump({**base, "family": "phi3_v"}))
    with pytest.raises(UserError, match="trust_remote_code"):
        build_tiny_backbone(phi, tmp_path / "out-phi")
    with pytest.raises(UserError, match="not a tiny config"):
        build_tiny_backbone("qwen2-vl-2b", tmp_path / "out-real")
    with pytest.raises(UserError, match="no backbone config"):
        build_tiny_backbone("tiny-qwen9", tmp_path / "out-x")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out-phi").exists()


def test_missing_hub_model_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="cannot load VLM weights from 'Qwen/Qwen2-VL-0B-NotAModel'"):
        load_backbone("Qwen/Qwen2-VL-0B-NotAModel")


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("tokenizer.json", "lacks a real vocabulary"),
        ("processor_config.json", "cannot load the processor"),
        ("model.safetensors", "cannot load VLM weights"),
    ],
)
def test_incomplete_model_folder_is_a_clear_error(remove, message, tiny_paths, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_paths["tiny-qwen2-vl"], broken)
    (broken / remove).unlink()
    with pytest.raises(UserError, match=message):
        load_backbone(broken)


def test_build_is_identical_in_another_process(tiny_paths, tmp_path):
    """Tokenizer training and weight init do not depend on the process (hash seed, import order)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "other-process"
    code = (
        "from ugcore.backbones import build_tiny_backbone; "
        f"build_tiny_backbone('tiny-llava-next', {str(out)!r}, seed=0)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, timeout=300)
    for f in ("tokenizer.json", "model.safetensors"):
        assert _digest(out / f) == _digest(tiny_paths["tiny-llava-next"] / f), f
