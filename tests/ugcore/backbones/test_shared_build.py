"""A tiny backbone folder is checked on every reuse: a broken one (marker present, files missing or altered)
is rebuilt with a one-line warning, never trusted because its marker says "built"."""

from __future__ import annotations

import hashlib
import shutil

from ugcore.backbones import build_tiny_backbone, load_backbone
from ugcore.backbones.tiny import TINY_MARKER


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_broken_folder_with_marker_is_rebuilt_with_a_warning(tiny_paths, tmp_path, capfd):
    good = tiny_paths["tiny-qwen2-vl"]
    folder = tmp_path / "tiny-qwen2-vl"
    # 1) what a rank that transformers would not let save left: tokenizer, processor and marker only
    shutil.copytree(good, folder)
    (folder / "config.json").unlink()
    (folder / "model.safetensors").unlink()
    assert (folder / TINY_MARKER).is_file()
    capfd.readouterr()
    assert build_tiny_backbone("tiny-qwen2-vl", folder, seed=0) == folder
    warnings = [x for x in capfd.readouterr().err.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and str(folder) in warnings[0] and "config.json missing" in warnings[0], warnings
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        assert _digest(folder / f) == _digest(good / f), f
    load_backbone(folder)  # complete: loads
    # 2) weights of the same size but other bytes: only the recorded sha256 tells
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-8:] = b"\x7f" * 8
    (folder / "model.safetensors").write_bytes(bytes(data))
    build_tiny_backbone("tiny-qwen2-vl", folder, seed=0)
    warnings = [x for x in capfd.readouterr().err.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "model.safetensors differs" in warnings[0], warnings
    assert _digest(folder / "model.safetensors") == _digest(good / "model.safetensors")
    # 3) a sound folder is reused silently, untouched
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    build_tiny_backbone("tiny-qwen2-vl", folder, seed=0)
    assert "warning:" not in capfd.readouterr().err
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime
