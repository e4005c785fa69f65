"""What the UGE trainer relies on: an nn.Module view that DDP can wrap, gradients through it, and the
remote-code family refusing early when it cannot run."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.distributed as dist
from backbone_helpers import noise_image

from ugcore.backbones import load_backbone, resolve_source
from ugcore.errors import UserError

INSTR = "Find the street"


def test_module_view_under_ddp_matches_and_trains(tiny_paths, tmp_path):
    bb = load_backbone(tiny_paths["tiny-qwen2-vl"], trainable=True)
    bb.add_graph_tokens()
    torch.manual_seed(0)
    bb.apply_lora(r=4, alpha=8, dropout=0.0, init_lora_weights=False)
    items = [("a cafe", noise_image(56, 56, 1)), ("bridge", None)]
    batch = bb.prepare(items, INSTR, n_graph_tokens=[2, 1])
    nodes = [torch.randn(2, bb.hidden_size), torch.randn(1, bb.hidden_size)]
    direct = bb.embed_batch(batch, inputs_embeds_hook=bb.graph_hook(nodes)).detach()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(bb.as_module())
        z = ddp(batch, inputs_embeds_hook=bb.graph_hook(nodes))
        assert torch.allclose(z, direct, atol=1e-6)
        (z[0] @ z[1]).backward()
        lora = [p for n, p in ddp.named_parameters() if "lora_" in n]
        assert lora and all(p.grad is not None for p in lora)
        assert all(not p.requires_grad for n, p in ddp.named_parameters() if "lora_" not in n)
    finally:
        dist.destroy_process_group()


def test_phi3_vision_resolves_and_refuses_early_without_torchvision():
    r = resolve_source("phi-3-vision")
    assert r.family.trust_remote_code and r.family.lora_target_modules.startswith(r"model\.layers")
    # This project never installs torchvision (no working CPU build); where a user has it, the load goes on
    # to the hub and fails offline with the weights error instead.
    expected = "torchvision" if importlib.util.find_spec("torchvision") is None else "cannot load VLM weights"
    with pytest.raises(UserError, match=expected):
        load_backbone("microsoft/Phi-3-vision-128k-instruct")
