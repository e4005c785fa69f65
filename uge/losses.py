"""Multi-positive InfoNCE over in-batch, cross-process and spatial hard negatives.

For query i and the gathered documents D (every process's positives and hard negatives):

    loss_i = logsumexp_{j in D} s_ij / tau  -  logsumexp_{j in P_i} s_ij / tau

where P_i are the documents whose key is one of query i's positive keys (so several positives, e.g. the
caption and reasoning paths, all count, and a duplicate of a positive elsewhere in the batch is not a
negative). With one positive per query and no duplicates this is the standard InfoNCE / cross-entropy.
Matryoshka: the same loss on re-normalised prefixes of the embedding, averaged with the full one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import gather_no_grad, gather_with_grad


class Temperature(nn.Module):
    """tau, optionally learnable (stored as log(1/tau) as in CLIP, clamped to tau >= 0.001)."""

    def __init__(self, tau: float, learnable: bool):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(-torch.log(torch.tensor(tau)))), requires_grad=learnable)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=6.9078).exp()  # 1/tau, tau >= 0.001


@dataclass
class LossOutput:
    loss: torch.Tensor
    logits: torch.Tensor  # (local queries, all documents) at full dimension
    n_docs: int
    accuracy: float  # share of local queries whose top document is a positive


def info_nce(
    q: torch.Tensor,
    d: torch.Tensor,
    pos_keys: torch.Tensor,
    doc_keys: torch.Tensor,
    scale: torch.Tensor,
    *,
    gather: bool = True,
    matryoshka_dims: tuple[int, ...] = (),
) -> LossOutput:
    """q: (Q, D) local query embeddings (normalised); d: (M, D) local documents; pos_keys: (Q, P) int64
    positive document keys of each query, -1 padded; doc_keys: (M,) int64. Documents are gathered from all
    processes WITH gradient when `gather` and torch.distributed is initialised."""
    if gather:
        d_all, _ = gather_with_grad(d)
        keys_all = gather_no_grad(doc_keys)
    else:
        d_all, keys_all = d, doc_keys
    pos = (keys_all[None, None, :] == pos_keys[:, :, None]).any(dim=1)  # (Q, M_all)
    if not bool(pos.any(dim=1).all()):
        raise RuntimeError("a query has no positive document in the batch (pair construction bug)")
    losses = []
    logits_full = None
    for dim in (None, *matryoshka_dims):
        if dim is None:
            qq, dd = q, d_all
        else:
            qq, dd = F.normalize(q[:, :dim], dim=-1), F.normalize(d_all[:, :dim], dim=-1)
        logits = (qq @ dd.T).float() * scale
        if logits_full is None:
            logits_full = logits
        neg_inf = torch.finfo(logits.dtype).min
        loss = torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.masked_fill(~pos, neg_inf), dim=1)
        losses.append(loss.mean())
    total = torch.stack(losses).mean()
    with torch.no_grad():
        acc = pos.gather(1, logits_full.argmax(dim=1, keepdim=True)).float().mean().item()
    return LossOutput(total, logits_full, int(d_all.shape[0]), acc)
