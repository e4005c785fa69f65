"""The ugbench `hf-vlm` adapter: registry names, EncoderProtocol, ModelMeta, instructions, LoRA option."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from backbone_helpers import noise_image

from ugbench.models.registry import load_model, resolve
from ugcore.backbones import load_backbone
from ugcore.errors import UserError
from ugcore.protocol import EncodeItem, EncoderProtocol


def _items():
    return [
        EncodeItem(text="tram stop by the river", id="a"),
        EncodeItem(image=noise_image(56, 84, 21), id="b"),
        EncodeItem(text="x", image=noise_image(70, 56, 22), id="c"),
        EncodeItem(text="a much longer description of a busy commercial street corner", id="d"),
    ]


def test_registry_resolves_names_paths_and_hub_ids(tiny_paths, tmp_path):
    for name in ("tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-llava-next", "qwen2-vl-2b", "phi-3-vision"):
        assert resolve(name).loader is resolve("hf-vlm").loader, name
    for hub_id in (
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "llava-hf/llava-v1.6-mistral-7b-hf",
        "Alibaba-NLP/gme-Qwen2-VL-2B-Instruct",
        "microsoft/Phi-3-vision-128k-instruct",
    ):
        assert resolve(hub_id).name == "hf-vlm", hub_id
    assert resolve(str(tiny_paths["tiny-llava-next"])).name == "hf-vlm"
    with pytest.raises(UserError, match="Did you mean: tiny-qwen2-vl"):
        resolve("tiny-qwen2vl")
    with pytest.raises(UserError, match="needs a model"):
        load_model("hf-vlm")


def test_encoder_protocol_meta_and_order(tiny_cache, tiny_paths):
    model = load_model("tiny-qwen2-vl", device="cpu")  # by name: built into $UG_CACHE, then loaded
    assert isinstance(model, EncoderProtocol)
    meta = model.meta
    assert (meta.pooling, meta.embed_dim, meta.adapter, meta.normalized) == ("last_token", 64, "hf-vlm", True)
    assert set(meta.modalities) == {"text", "image"} and meta.n_parameters > 100_000
    assert meta.revision.startswith("tiny-") and meta.extra["family"] == "qwen2_vl"
    assert str(tiny_cache) in meta.extra["source"]
    items = _items()
    out = model.encode(items, task_name="mock", side="query", instruction="Find the place", batch_size=3)
    assert out.shape == (4, 64) and out.dtype == np.float32 and np.isfinite(out).all()
    # Sorting for batching must not change which row belongs to which item.
    bb = load_backbone(tiny_paths["tiny-qwen2-vl"])
    with torch.no_grad():
        ref = torch.cat([bb.embed([(it.text, it.image)], "Find the place") for it in items]).numpy()
    assert abs(out - ref).max() < 1e-5
    again = model.encode(items, task_name="mock", side="query", instruction="Find the place", batch_size=3)
    assert np.array_equal(out, again)  # same inputs, same batching: bit-identical
    doc = model.encode(items, task_name="mock", side="document", instruction=None)
    assert abs(doc - out).max() > 1e-3  # the instruction is used


def test_bad_items_and_options_are_clear_errors(tiny_paths):
    with pytest.raises(UserError, match="unknown option"):
        load_model(str(tiny_paths["tiny-qwen2-vl"]), adaptor="x")
    model = load_model(str(tiny_paths["tiny-qwen2-vl"]))
    with pytest.raises(UserError, match=r"task mock \(query\): item 1 \(id g\) has neither text nor image"):
        model.encode([EncodeItem(text="ok"), EncodeItem(id="g")], task_name="mock", side="query")


def test_adapter_option_loads_lora(tiny_paths, tmp_path):
    bb = load_backbone(tiny_paths["tiny-llava-next"])
    torch.manual_seed(0)
    bb.apply_lora(r=4, alpha=8, dropout=0.0, init_lora_weights=False)
    bb.save_adapter(tmp_path / "lora")
    base = load_model(str(tiny_paths["tiny-llava-next"]))
    tuned = load_model(str(tiny_paths["tiny-llava-next"]), adapter=str(tmp_path / "lora"))
    as_model = load_model(str(tmp_path / "lora"))  # an adapter folder is a model name too
    assert "+lora-" in tuned.meta.revision and tuned.meta.revision == as_model.meta.revision
    kw = {"task_name": "mock", "side": "query", "instruction": "Find"}
    a, b, c = base.encode(_items(), **kw), tuned.encode(_items(), **kw), as_model.encode(_items(), **kw)
    assert abs(a - b).max() > 1e-3 and np.array_equal(b, c)
    (tmp_path / "lora" / "adapter_model.safetensors").unlink()
    with pytest.raises(UserError, match="no adapter weights"):
        load_model(str(tiny_paths["tiny-llava-next"]), adapter=str(tmp_path / "lora"))


def test_non_finite_embeddings_are_a_clear_error(tiny_paths):
    model = load_model(str(tiny_paths["tiny-qwen2-vl"]))
    with torch.no_grad():
        model.backbone.core.language_model.norm.weight[0] = float("nan")
    with pytest.raises(UserError, match=r"task mock \(document\): 4 non-finite embedding"):
        model.encode(_items(), task_name="mock", side="document")


def test_revision_tracks_settings_that_change_embeddings(tiny_paths):
    plain = load_model(str(tiny_paths["tiny-qwen2-vl"]))
    v2v = load_model(str(tiny_paths["tiny-qwen2-vl"]), prompt_style="vlm2vec")
    assert v2v.meta.revision == plain.meta.revision + "+vlm2vec"
    assert v2v.meta.extra["prompt_style"] == "vlm2vec"
