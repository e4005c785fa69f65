"""CSSR's training losses (paper: semantic InfoNCE, geo soft-target KL, FoV cross-entropy, uncertainty weights)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EARTH_RADIUS_KM = 6371.0088


def haversine_km_matrix(lat: torch.Tensor, lng: torch.Tensor) -> torch.Tensor:
    """(n,) degrees -> (n, n) great-circle distances in km (float64 for metre-level precision)."""
    la, lo = torch.deg2rad(lat.double()), torch.deg2rad(lng.double())
    dlat = la[:, None] - la[None, :]
    dlon = lo[:, None] - lo[None, :]
    a = torch.sin(dlat / 2) ** 2 + torch.cos(la)[:, None] * torch.cos(la)[None, :] * torch.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * torch.asin(torch.sqrt(a.clamp(0.0, 1.0)))


def multi_positive_infonce(
    z_q: torch.Tensor,
    z_d: torch.Tensor,
    q_owner: torch.Tensor,
    temperature: float,
    *,
    doc_place: torch.Tensor | None = None,
    hard_negative_weight: float = 1.0,
) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE between queries and documents.

    z_q (m, k) queries, z_d (b, k) documents, q_owner (m,) index of each query's document. Query -> document is
    plain cross-entropy (one positive); document -> query averages -log p over the document's positive queries
    (its five query types). Every other document in the batch is a negative; the trainer's batches hold whole
    panoramas, so the same location's other FoVs are always there as hard negatives, and `hard_negative_weight`
    (w) can up-weight them by adding log(w) to their logits (w = 1: the paper's plain in-batch form).
    """
    logits = z_q @ z_d.T / temperature  # (m, b)
    if doc_place is not None and hard_negative_weight != 1.0:
        same = doc_place[q_owner][:, None].eq(doc_place[None, :])
        same &= ~F.one_hot(q_owner, z_d.shape[0]).bool()
        logits = logits + same.float() * math.log(hard_negative_weight)
    loss_qd = F.cross_entropy(logits, q_owner)
    pos = F.one_hot(q_owner, z_d.shape[0]).T.float()  # (b, m)
    logp = logits.T.log_softmax(dim=-1)
    loss_dq = -(logp * pos).sum(-1) / pos.sum(-1).clamp(min=1.0)
    return 0.5 * (loss_qd + loss_dq.mean())


def geo_soft_target(lat: torch.Tensor, lng: torch.Tensor) -> torch.Tensor:
    """Row-normalised 1 - tanh(asinh(haversine_km)): 1 at the same spot, ~0.6 at 1 km, ~0.02 at 50 km."""
    t = 1.0 - torch.tanh(torch.asinh(haversine_km_matrix(lat, lng)))
    return (t / t.sum(dim=1, keepdim=True)).float()


def geo_kl(z_geo: torch.Tensor, lat: torch.Tensor, lng: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(target || softmax(z_geo z_geo^T / t)) averaged over rows."""
    target = geo_soft_target(lat, lng).to(z_geo.device)
    logp = (z_geo @ z_geo.T / temperature).log_softmax(dim=-1)
    return F.kl_div(logp, target, reduction="batchmean")


def fov_cross_entropy(fov_logits: torch.Tensor, fov: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the rows whose FoV input was hidden (zero when none was)."""
    if not bool(mask.any()):
        return fov_logits.sum() * 0.0
    return F.cross_entropy(fov_logits[mask], fov[mask])


def uncertainty_weighted(losses: list[torch.Tensor], log_sigma: torch.Tensor) -> torch.Tensor:
    """sum_i 0.5 L_i / sigma_i^2 + log prod_i sigma_i, with log sigma learned (Kendall, Gal & Cipolla 2018)."""
    stacked = torch.stack(losses)
    return (0.5 * stacked * torch.exp(-2.0 * log_sigma)).sum() + log_sigma.sum()
