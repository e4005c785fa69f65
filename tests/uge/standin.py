"""A tiny stand-in VLM backbone for uge tests that must not depend on the HF backbone layer.

It satisfies uge.model.BackboneAdapter: word-hash tokenizer, 4x4 RGB patches as image tokens, a 2-layer
causal transformer whose attention has q/k/v/o projections (so peft LoRA targets them like a real LLM),
graph soft tokens written at placeholder positions, last-token pooling. Random weights from a seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PAD, GRAPH_PAD, IMAGE_PAD, GRAPH_START, GRAPH_END, EOS = 0, 1, 2, 3, 4, 5
VOCAB = 512
N_PATCH = 16


def word_ids(text: str) -> list[int]:
    return [6 + int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little") % (VOCAB - 6)
            for w in text.lower().replace(",", " ").replace(":", " ").split()]


class Block(nn.Module):
    def __init__(self, h: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(h, h) for _ in range(4))
        self.n1, self.n2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.mlp = nn.Sequential(nn.Linear(h, 2 * h), nn.GELU(), nn.Linear(2 * h, h))

    def forward(self, x, mask):
        b, t, h = x.shape
        y = self.n1(x)
        q, k, v = (p(y).view(b, t, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = causal[None, None] & mask[:, None, None, :].bool()
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=att)
        x = x + self.o_proj(o.transpose(1, 2).reshape(b, t, h))
        return x + self.mlp(self.n2(x))


class TinyLM(nn.Module):
    def __init__(self, hidden: int = 32, layers: int = 2, heads: int = 4):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, hidden)
        self.patch = nn.Linear(48, hidden)
        self.layers = nn.ModuleList(Block(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, inputs_embeds, attention_mask, **_):
        x = inputs_embeds
        for blk in self.layers:
            x = blk(x, attention_mask)
        return self.norm(x)


class StandinAdapter:
    """uge.model.BackboneAdapter over TinyLM."""

    name = "standin-tiny"

    def __init__(self, hidden: int = 32, seed: int = 0, max_length: int = 96):
        torch.manual_seed(seed)
        self.model = TinyLM(hidden)
        self.hidden_size = hidden
        self.max_length = max_length

    def text_token_ids(self, texts, max_tokens):
        return [word_ids(t)[:max_tokens] for t in texts]

    def input_embeddings(self, model):
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        return base.embed_tokens

    def apply_lora(self, lora_cfg):
        from peft import LoraConfig, get_peft_model

        self.model = get_peft_model(self.model, LoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha,
                                                           lora_dropout=lora_cfg.dropout,
                                                           target_modules=list(lora_cfg.target_modules)))
        return self.model

    def save_adapter(self, path):
        self.model.save_pretrained(path)

    def save_processor(self, path):
        Path(path, "standin_processor.json").write_text(json.dumps({"hidden": self.hidden_size}))

    @staticmethod
    def _patches(img) -> torch.Tensor:
        a = np.asarray(img.convert("RGB").resize((16, 16)), dtype=np.float32) / 255.0  # (16,16,3)
        a = a.reshape(4, 4, 4, 4, 3).transpose(0, 2, 1, 3, 4).reshape(16, 48)
        return torch.from_numpy(a)

    def prepare(self, inputs: Sequence, n_graph_tokens: Sequence[int]):
        seqs, pix = [], []
        for x, ng in zip(inputs, n_graph_tokens, strict=True):
            ids = word_ids(x.instruction or "")
            if x.image is not None:
                ids += [IMAGE_PAD] * N_PATCH
                pix.append(self._patches(x.image))
            if ng:
                ids += [GRAPH_START] + [GRAPH_PAD] * ng + [GRAPH_END]
            ids += word_ids(x.text or "")[: self.max_length] + [EOS]
            seqs.append(ids)
        t = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), t), PAD, dtype=torch.long)
        mask = torch.zeros((len(seqs), t), dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        out = {"input_ids": input_ids, "attention_mask": mask}
        if pix:
            out["pixel_values"] = torch.stack(pix)
        return out

    def embed(self, model, batch, graph_tokens):
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        ids = batch["input_ids"]
        x = base.embed_tokens(ids)
        if "pixel_values" in batch:
            x = x.masked_scatter((ids == IMAGE_PAD)[..., None], base.patch(batch["pixel_values"]).to(x.dtype))
        if graph_tokens is not None:
            x = x.masked_scatter((ids == GRAPH_PAD)[..., None], graph_tokens.to(x.dtype))
        h = model(inputs_embeds=x, attention_mask=batch["attention_mask"])
        last = batch["attention_mask"].sum(1) - 1
        return h[torch.arange(h.shape[0]), last]


def make_adapter(cfg=None) -> StandinAdapter:
    """Factory for backbone.name_or_path = "adapter:standin:make_adapter" (tests/uge on sys.path)."""
    return StandinAdapter()
