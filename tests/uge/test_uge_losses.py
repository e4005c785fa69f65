"""InfoNCE: equals cross-entropy in the one-positive case; multi-positive and duplicate handling."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uge.losses import info_nce


def _norm(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def test_single_positive_equals_cross_entropy():
    q, d = _norm(5, 8), _norm(5, 8, seed=1)
    keys = torch.arange(5)
    out = info_nce(q, d, keys[:, None], keys, torch.tensor(20.0), gather=False)
    ref = F.cross_entropy((q @ d.T) * 20.0, torch.arange(5))
    assert torch.allclose(out.loss, ref, atol=1e-6)
    assert out.logits.shape == (5, 5)


def test_multi_positive_and_duplicates():
    q, d = _norm(2, 8), _norm(4, 8, seed=1)
    # query 0: positives docs 0 and 1; query 1: doc 2; doc 3 duplicates doc 0's key (a hard negative of q1)
    keys = torch.tensor([10, 11, 20, 10])
    pos = torch.tensor([[10, 11], [20, -1]])
    out = info_nce(q, d, pos, keys, torch.tensor(10.0), gather=False)
    logits = (q @ d.T) * 10.0
    l0 = torch.logsumexp(logits[0], 0) - torch.logsumexp(logits[0, [0, 1, 3]], 0)
    l1 = torch.logsumexp(logits[1], 0) - logits[1, 2]
    assert torch.allclose(out.loss, (l0 + l1) / 2, atol=1e-6)


def test_matryoshka_adds_prefix_losses():
    q, d = _norm(4, 16), _norm(4, 16, seed=2)
    keys = torch.arange(4)
    full = info_nce(q, d, keys[:, None], keys, torch.tensor(10.0), gather=False).loss
    both = info_nce(q, d, keys[:, None], keys, torch.tensor(10.0), gather=False, matryoshka_dims=(4,)).loss
    pre = info_nce(F.normalize(q[:, :4], dim=-1), F.normalize(d[:, :4], dim=-1), keys[:, None], keys,
                   torch.tensor(10.0), gather=False).loss
    assert torch.allclose(both, (full + pre) / 2, atol=1e-6)
