"""Graph soft tokens (UGE stage 2): <|graph_pad|> positions take node embeddings, differentiably."""

from __future__ import annotations

import pytest
import torch
from backbone_helpers import noise_image

from ugcore.backbones import GRAPH_PAD, GRAPH_TOKENS, load_backbone

INSTR = "Locate this view in the street graph"


def _items():
    return [
        ("corner of two streets", noise_image(56, 56, 11)),
        ("a text without graph", None),
        (None, noise_image(84, 56, 12)),
    ]


@pytest.mark.parametrize("name", ["tiny-qwen2-vl", "tiny-llava-next"])
def test_graph_tokens_take_node_embeddings(name, tiny_paths):
    bb = load_backbone(tiny_paths[name])
    rows_before = bb.input_embeddings.weight.shape[0]
    ids = bb.add_graph_tokens()
    assert bb.add_graph_tokens() == ids and set(ids) == set(GRAPH_TOKENS)  # idempotent
    assert bb.input_embeddings.weight.shape[0] == rows_before  # spare rows used, no resize
    counts = [3, 0, 2]
    batch = bb.prepare(_items(), INSTR, n_graph_tokens=counts)
    assert (batch["input_ids"] == ids[GRAPH_PAD]).sum(1).tolist() == counts
    torch.manual_seed(0)
    nodes = [torch.randn(n, bb.hidden_size, requires_grad=True) for n in counts]
    with_graph = bb.embed_batch(batch, inputs_embeds_hook=bb.graph_hook(nodes))
    plain = bb.embed_batch(batch).detach()
    assert torch.allclose(with_graph[1], plain[1], atol=1e-6)  # no graph tokens: unchanged
    assert (with_graph[[0, 2]] - plain[[0, 2]]).abs().max() > 1e-3
    with_graph.sum().backward()
    assert nodes[0].grad.abs().sum() > 0 and nodes[2].grad.abs().sum() > 0
    with pytest.raises(ValueError, match="graph token counts"):
        bb.embed_batch(batch, inputs_embeds_hook=bb.graph_hook([n.detach() for n in nodes[::-1]]))


@pytest.mark.parametrize("side", ["left", "right"])
def test_graph_embeddings_do_not_depend_on_batching(side, tiny_paths):
    bb = load_backbone(tiny_paths["tiny-qwen2-vl"], padding_side=side)
    bb.add_graph_tokens()
    counts = [3, 0, 2]
    torch.manual_seed(1)
    nodes = [torch.randn(n, bb.hidden_size) for n in counts]
    with torch.no_grad():
        together = bb.embed(_items(), INSTR, n_graph_tokens=counts, inputs_embeds_hook=bb.graph_hook(nodes))
        alone = torch.cat(
            [
                bb.embed([it], INSTR, n_graph_tokens=[n], inputs_embeds_hook=bb.graph_hook([e]))
                for it, n, e in zip(_items(), counts, nodes, strict=True)
            ]
        )
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)


def test_graph_tokens_resize_when_no_spare_rows(tiny_paths):
    bb = load_backbone(tiny_paths["tiny-qwen2.5-vl"])
    bb.base_model.resize_token_embeddings(len(bb.tokenizer), mean_resizing=False)
    full = bb.input_embeddings.weight.shape[0]
    mean = bb.input_embeddings.weight.detach().mean(0)
    ids = bb.add_graph_tokens()
    assert bb.input_embeddings.weight.shape[0] == full + 3 == max(ids.values()) + 1
    assert torch.allclose(bb.input_embeddings.weight[full:], mean.expand(3, -1))
    with torch.no_grad():
        z = bb.embed([("a", None)], INSTR, n_graph_tokens=[1], inputs_embeds_hook=bb.graph_hook([mean[None]]))
    assert torch.isfinite(z).all()


def test_lora_with_graph_tokens_trains_and_reloads(tiny_paths, tmp_path):
    bb = load_backbone(tiny_paths["tiny-qwen2-vl"], trainable=True)
    bb.add_graph_tokens()
    torch.manual_seed(2)
    bb.apply_lora(r=4, alpha=8, dropout=0.0, init_lora_weights=False)
    counts = [2, 0, 1]
    nodes = [torch.randn(n, bb.hidden_size) for n in counts]
    z = bb.embed(_items(), INSTR, n_graph_tokens=counts, inputs_embeds_hook=bb.graph_hook(nodes))
    (z @ z.T).sum().backward()
    grads = [p.grad for n, p in bb.model.named_parameters() if "lora_" in n]
    assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    bb.model.eval()
    with torch.no_grad():
        live = bb.embed(_items(), INSTR, n_graph_tokens=counts, inputs_embeds_hook=bb.graph_hook(nodes))
    bb.save_adapter(tmp_path / "stage2")
    again = load_backbone(tmp_path / "stage2")
    assert again.graph_token_ids == bb.graph_token_ids  # re-added before the adapter was loaded
    with torch.no_grad():
        reloaded = again.embed(
            _items(), INSTR, n_graph_tokens=counts, inputs_embeds_hook=again.graph_hook(nodes)
        )
    assert torch.equal(live, reloaded)


def test_gradient_checkpointing_keeps_lora_gradients(tiny_paths):
    def lora_grads(checkpointing: bool):
        bb = load_backbone(tiny_paths["tiny-qwen2-vl"], trainable=True)
        torch.manual_seed(3)
        bb.apply_lora(r=4, alpha=8, dropout=0.0, init_lora_weights=False)
        if checkpointing:
            bb.enable_gradient_checkpointing()
        z = bb.embed(_items(), INSTR)
        (z @ z.T).sum().backward()
        return {n: p.grad.clone() for n, p in bb.model.named_parameters() if "lora_" in n}

    plain, ckpt = lora_grads(False), lora_grads(True)
    assert plain.keys() == ckpt.keys()
    for n in plain:
        assert torch.allclose(plain[n], ckpt[n], atol=1e-6), n


def test_mean_token_embeddings_ignore_padding(loaded):
    bb = loaded("tiny-llava-next")
    texts = [
        "Category: cafe, Name: Kahvila",
        "Intersection of Mannerheimintie and Lönnrotinkatu, a long name",
    ]
    both = bb.mean_token_embeddings(texts)
    alone = torch.cat([bb.mean_token_embeddings([t]) for t in texts])
    assert both.shape == (2, bb.hidden_size) and torch.allclose(both, alone, atol=1e-6)
    ids = bb.tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    manual = bb.input_embeddings.weight[ids].float().mean(0)
    assert torch.allclose(both[0], manual, atol=1e-6)
    assert bb.mean_token_embeddings(texts, max_tokens=2).shape == (2, bb.hidden_size)
