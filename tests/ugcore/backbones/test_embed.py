"""Embedding: last-token pooling of the real last token, whatever the padding side and batch composition."""

from __future__ import annotations

import pytest
import torch
from backbone_helpers import TINY, noise_image

from ugcore.backbones import Backbone, load_backbone

INSTR = "Represent this street scene for retrieval"


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("name", TINY)
def test_batch_equals_one_by_one(name, side, loaded, mixed_items):
    bb = loaded(name, side)
    batch = bb.prepare(mixed_items, INSTR)
    mask = batch["attention_mask"]
    assert (mask == 0).any(), "the batch must actually be padded for this test to mean anything"
    # Padding is on the requested side.
    edge = mask[:, 0] if side == "left" else mask[:, -1]
    assert (edge == 0).any()
    with torch.no_grad():
        together = bb.embed_batch(batch)
        alone = torch.cat([bb.embed([it], INSTR) for it in mixed_items])
    assert together.shape == (len(mixed_items), bb.hidden_size)
    assert torch.allclose(together, alone, atol=1e-5, rtol=0), (together - alone).abs().max()
    assert torch.allclose(together.norm(dim=1), torch.ones(len(mixed_items)), atol=1e-5)
    # The test has teeth: pooling the last POSITION (not the last real token) gives other vectors
    # for right-padded rows, and the rows differ from each other (the model is not constant).
    hidden = bb.hidden_states(batch)
    naive = torch.nn.functional.normalize(hidden[:, -1].float(), dim=-1)
    padded_rows = mask[:, -1] == 0
    if side == "right":
        assert (naive[padded_rows] - alone[padded_rows]).abs().max() > 1e-3
    assert torch.cdist(alone, alone).fill_diagonal_(1).min() > 1e-3


@pytest.mark.parametrize("name", TINY)
def test_padding_side_does_not_change_embeddings(name, loaded, mixed_items):
    with torch.no_grad():
        left = loaded(name, "left").embed(mixed_items, INSTR)
        right = loaded(name, "right").embed(mixed_items, INSTR)
    assert torch.allclose(left, right, atol=1e-5, rtol=0)


def test_last_token_pool_picks_last_real_position():
    hidden = torch.arange(2 * 5 * 1, dtype=torch.float32).reshape(2, 5, 1)
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert Backbone.last_token_pool(hidden, left).flatten().tolist() == [4.0, 9.0]
    assert Backbone.last_token_pool(hidden, right).flatten().tolist() == [2.0, 9.0]


@pytest.mark.parametrize("name", TINY)
def test_prompt_holds_one_placeholder_run_per_image(name, loaded):
    bb = loaded(name)
    items = [("text only", None), ("with image", noise_image(60, 90, 7))]
    batch = bb.prepare(items, INSTR)
    image_id = bb.tokenizer.convert_tokens_to_ids(bb.family.image_token)
    per_row = (batch["input_ids"] == image_id).sum(1).tolist()
    assert per_row[0] == 0 and per_row[1] > 1  # expanded to the image's feature count
    if "image_grid_thw" in batch:  # Qwen: one token per 2x2 merged patch
        assert per_row[1] == int(batch["image_grid_thw"][0].prod()) // 4
        assert "mm_token_type_ids" in batch
    # Every row ends (last real token) with the family's end token: that is the token pooled.
    end_id = bb.tokenizer.convert_tokens_to_ids(bb.family.end_token)
    positions = torch.arange(batch["input_ids"].shape[1])
    last = (batch["attention_mask"] * positions).argmax(1)
    assert batch["input_ids"][torch.arange(2), last].tolist() == [end_id, end_id]


@pytest.mark.parametrize("name", TINY)
def test_two_loads_are_identical_and_inputs_matter(name, tiny_paths, loaded, mixed_items):
    with torch.no_grad():
        a = loaded(name).embed(mixed_items, INSTR)
        b = load_backbone(tiny_paths[name]).embed(mixed_items, INSTR)  # a fresh, second load
        other_instr = loaded(name).embed(mixed_items, "Find the place")
    assert torch.equal(a, b)
    assert (a - other_instr).abs().max() > 1e-3  # the instruction reaches the model


def test_encode_matches_embed_and_items_without_content_fail(loaded, mixed_items):
    bb = loaded("tiny-qwen2-vl")
    with torch.no_grad():
        ref = bb.embed(mixed_items, INSTR).numpy()
    got = bb.encode(mixed_items, INSTR, batch_size=4)
    assert got.dtype.name == "float32" and got.shape == ref.shape
    assert abs(got - ref).max() < 1e-5
    with pytest.raises(ValueError, match="neither text nor image"):
        bb.prepare([(None, None)])


def test_prompt_styles_render_documented_formats(tiny_paths):
    qwen = load_backbone(tiny_paths["tiny-qwen2-vl"], prompt_style="gme")
    img = noise_image(56, 56, 0)
    # GME's inference format (system = instruction, image before text, <|endoftext|> pooled).
    assert qwen.prompts([("a cafe", img)], "Find an image that matches the given text.")[0] == (
        "<|im_start|>system\nFind an image that matches the given text.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>a cafe<|im_end|>\n<|im_start|>assistant\n<|endoftext|>"
    )
    assert qwen.prompts([("a cafe", None)])[0].startswith("<|im_start|>system\nYou are a helpful assistant.")
    v2v = load_backbone(tiny_paths["tiny-qwen2-vl"], prompt_style="vlm2vec")
    assert v2v.prompts([("a cafe", img)], "Represent the given image:")[0] == (
        "<|image_pad|> Represent the given image: a cafe"
    )
    llava = load_backbone(tiny_paths["tiny-llava-next"])  # default style
    assert llava.prompts([("a cafe", img)], "Find it")[0] == "[INST] <image>\nFind it\na cafe [/INST]</s>"
