"""A hub id already in the Hugging Face cache loads through the same path, offline, from its snapshot.

The tiny folders are re-laid out like hub repositories saved by transformers 4.x (image processor settings
in preprocessor_config.json, no torchvision-free processor class anywhere), so this exercises the code path
a real Qwen/Qwen2-VL-2B-Instruct or llava-hf/llava-v1.6-mistral-7b-hf download takes.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from backbone_helpers import noise_image

from ugbench.models.registry import load_model
from ugcore.backbones import load_backbone

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _fake_hub_cache(tmp_path, tiny_dir, repo: str, keep_processor_config: bool):
    repo_dir = tmp_path / "hub" / f"models--{repo.replace('/', '--')}"
    snap = repo_dir / "snapshots" / COMMIT
    shutil.copytree(tiny_dir, snap)
    (snap / "ug_tiny_backbone.json").unlink()
    pc = json.loads((snap / "processor_config.json").read_text())
    ip = pc.pop("image_processor")
    ip["processor_class"] = pc["processor_class"].replace("ImageOnly", "")
    if "longest_edge" in ip.get("size", {}):  # Qwen repos spell the pixel range min_pixels / max_pixels
        size = ip.pop("size")
        ip["min_pixels"], ip["max_pixels"] = size["shortest_edge"], size["longest_edge"]
    (snap / "preprocessor_config.json").write_text(json.dumps(ip))
    if keep_processor_config:  # llava-hf repos keep patch_size etc. in processor_config.json
        pc["processor_class"] = ip["processor_class"]
        (snap / "processor_config.json").write_text(json.dumps(pc))
    else:
        (snap / "processor_config.json").unlink()
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(COMMIT)
    return tmp_path / "hub"


@pytest.mark.parametrize(
    ("name", "repo", "keep"),
    [
        ("tiny-qwen2-vl", "Qwen/Qwen2-VL-TinyTest", False),
        ("tiny-llava-next", "llava-hf/llava-v1.6-tinytest", True),
    ],
)
def test_cached_hub_id_loads_like_the_folder(name, repo, keep, tiny_paths, loaded, tmp_path):
    cache = _fake_hub_cache(tmp_path, tiny_paths[name], repo, keep)
    bb = load_backbone(repo, cache_dir=cache)
    assert bb.revision == COMMIT and bb.name == repo and bb.family.name == loaded(name).family.name
    # A large image: the tiny max_pixels must come from preprocessor_config.json, or the token count differs.
    items = [("a street", noise_image(200, 150, 5)), ("b", None)]
    ref = loaded(name)
    assert torch.equal(bb.prepare(items)["input_ids"], ref.prepare(items)["input_ids"])
    with torch.no_grad():
        assert torch.equal(bb.embed(items), ref.embed(items))


def test_hf_vlm_meta_for_hub_id(tiny_paths, tmp_path):
    cache = _fake_hub_cache(tmp_path, tiny_paths["tiny-qwen2-vl"], "Qwen/Qwen2-VL-TinyTest", False)
    model = load_model("Qwen/Qwen2-VL-TinyTest", cache_dir=str(cache))
    assert model.meta.revision == COMMIT
    assert model.meta.reference == "https://huggingface.co/Qwen/Qwen2-VL-TinyTest"
