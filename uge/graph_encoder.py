"""The stage-2 graph encoder: UGData ego subgraphs -> one soft token per node for the VLM.

Follows the UGE paper (arXiv 2602.08342):
- node text -> mean of the LLM's input token embeddings of the node text (<= 128 tokens) -> MLP;
- multi-scale sinusoidal encoding of (lon, lat) (16 frequencies, radii 1e-6..360) -> 64-d;
- 2 GATv2 layers, 4 heads, LayerNorm, residual;
- edge features: log haversine distance, bearing as (sin, cos), (dlat, dlon), each through a small MLP;
- output MLP + LayerNorm to the LLM hidden size.

Ablation switches (config.graph): use_edge_features, use_coordinates, node_encoder_only.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv

from .config import GraphEncoderConfig


class SinusoidalCoordEncoder(nn.Module):
    """Multi-scale sinusoidal encoding of (lon, lat) in degrees, then a linear map to `out_dim`.

    Scales are geometric between min_radius and max_radius (Space2Vec-style); each scale contributes
    sin and cos of lon/scale and lat/scale, so 4 * n_freq features enter the projection.
    """

    def __init__(self, n_freq: int, min_radius: float, max_radius: float, out_dim: int):
        super().__init__()
        if n_freq > 1:
            ratio = (max_radius / min_radius) ** (1.0 / (n_freq - 1))
            scales = torch.tensor([min_radius * ratio**i for i in range(n_freq)], dtype=torch.float64)
        else:
            scales = torch.tensor([max_radius], dtype=torch.float64)
        self.register_buffer("inv_scales", (1.0 / scales), persistent=False)
        self.proj = nn.Sequential(nn.Linear(4 * n_freq, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        # float64 for the angle: lon/1e-6 is ~1e7, where float32 would lose the phase entirely.
        x = lonlat.to(torch.float64).unsqueeze(-1) * self.inv_scales  # (N, 2, F)
        feats = torch.cat([torch.sin(x), torch.cos(x)], dim=-1).flatten(1)  # (N, 4F)
        return self.proj(feats.to(self.proj[0].weight.dtype))


class EdgeFeatureEncoder(nn.Module):
    """log distance, (sin, cos) bearing and (dlat, dlon), each through a small MLP, summed."""

    def __init__(self, edge_dim: int):
        super().__init__()

        def mlp(i: int) -> nn.Module:
            return nn.Sequential(nn.Linear(i, edge_dim), nn.GELU(), nn.Linear(edge_dim, edge_dim))

        self.dist = mlp(1)
        self.bearing = mlp(2)
        self.delta = mlp(2)

    def forward(self, edge_attr: torch.Tensor) -> torch.Tensor:
        # edge_attr columns: log1p(distance_m), sin(bearing), cos(bearing), dlat*100, dlon*100
        return self.dist(edge_attr[:, :1]) + self.bearing(edge_attr[:, 1:3]) + self.delta(edge_attr[:, 3:5])


class GraphEncoder(nn.Module):
    """Node features + (optional) GATv2 message passing -> soft tokens of size `llm_hidden`."""

    def __init__(self, cfg: GraphEncoderConfig, text_feat_dim: int, llm_hidden: int):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden_dim
        # Standardisation of the node text features, fitted once on the training graph (fit_text_norm) and saved
        # with the weights, like a frozen BatchNorm. Why: every node text shares the template ("Category: ...,
        # Name: ..., Area: ..., Coordinates: (...)"), so the mean token embeddings of any two nodes have cosine
        # ~0.87 (measured on the embedded city's graph, tiny backbone) and the few name tokens that tell nodes
        # apart are a small offset on a shared vector; centred, the cosine is ~0.0. Identity until fitted.
        self.register_buffer("text_mean", torch.zeros(text_feat_dim))
        self.register_buffer("text_scale", torch.ones(text_feat_dim))
        self.text_mlp = nn.Sequential(nn.Linear(text_feat_dim, h), nn.GELU(), nn.Linear(h, h))
        self.coord = (
            SinusoidalCoordEncoder(cfg.coord_frequencies, cfg.coord_min_radius, cfg.coord_max_radius, cfg.coord_dim)
            if cfg.use_coordinates
            else None
        )
        self.input_proj = nn.Linear(h + (cfg.coord_dim if cfg.use_coordinates else 0), h)
        self.input_norm = nn.LayerNorm(h)
        self.edge_enc = EdgeFeatureEncoder(cfg.edge_dim) if cfg.use_edge_features and not cfg.node_encoder_only else None
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        if not cfg.node_encoder_only:
            if h % cfg.gat_heads:
                raise ValueError(f"graph.hidden_dim {h} must be divisible by graph.gat_heads {cfg.gat_heads}")
            for _ in range(cfg.gat_layers):
                self.convs.append(
                    GATv2Conv(
                        h,
                        h // cfg.gat_heads,
                        heads=cfg.gat_heads,
                        concat=True,
                        dropout=cfg.dropout,
                        edge_dim=cfg.edge_dim if self.edge_enc is not None else None,
                        add_self_loops=True,
                        fill_value="mean",
                    )
                )
                self.norms.append(nn.LayerNorm(h))
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Sequential(nn.Linear(h, llm_hidden), nn.GELU(), nn.Linear(llm_hidden, llm_hidden))
        self.out_norm = nn.LayerNorm(llm_hidden)
        self.readout: nn.Linear | None = None
        if cfg.late_fusion:  # see GraphEncoderConfig.late_fusion; zero so the untrained stage 2 == stage 1
            self.readout = nn.Linear(llm_hidden, llm_hidden)
            nn.init.zeros_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)
        # graph.late_fusion_pool == "attention": a learnt score per node token, softmaxed within each item; zero
        # at the start, so the pool begins as the plain mean.
        self.pool_score: nn.Linear | None = None
        if cfg.late_fusion and cfg.late_fusion_pool == "attention":
            self.pool_score = nn.Linear(llm_hidden, 1)
            nn.init.zeros_(self.pool_score.weight)
            nn.init.zeros_(self.pool_score.bias)

    def pool(self, toks: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        """(items, llm_hidden): each item's node tokens pooled, by mean or by the learnt attention score."""
        pieces = torch.split(toks, sizes)
        if self.pool_score is None:
            return torch.stack([t.mean(0) for t in pieces])
        return torch.stack([(torch.softmax(self.pool_score(t), dim=0) * t).sum(0) for t in pieces])

    @torch.no_grad()
    def fit_text_norm(self, feats: torch.Tensor) -> None:
        """Set the node-text standardisation from a sample of node features (N, D) of the training graph."""
        if not self.cfg.standardize_node_text or len(feats) < 2:
            return
        f = feats.to(torch.float64)
        self.text_mean.copy_(f.mean(0).to(self.text_mean.dtype))
        # one scale for all dimensions (the mean per-dimension sd), so the relative sizes of the dims are kept
        self.text_scale.fill_(float(f.std(0).mean().clamp_min(1e-8)))

    def forward(
        self,
        text_feat: torch.Tensor,
        lonlat: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor,
    ) -> torch.Tensor:
        """Return (N, llm_hidden) node tokens for a batch of (disjoint) subgraphs."""
        dtype = self.text_mlp[0].weight.dtype
        x = self.text_mlp(((text_feat - self.text_mean) / self.text_scale).to(dtype))
        if self.coord is not None:
            x = torch.cat([x, self.coord(lonlat)], dim=-1)
        x = self.input_norm(self.input_proj(x))
        if self.convs:
            e = self.edge_enc(edge_attr.to(dtype)) if self.edge_enc is not None else None
            for conv, norm in zip(self.convs, self.norms, strict=True):
                y = conv(x, edge_index, edge_attr=e) if e is not None else conv(x, edge_index)
                x = norm(x + self.dropout(torch.nn.functional.gelu(y)))
        return self.out_norm(self.out(x))


def edge_attributes(distance_m, bearing_deg, dlat, dlon) -> torch.Tensor:
    """The 5 raw edge attributes the encoder's edge MLPs read (see EdgeFeatureEncoder)."""
    d = torch.as_tensor(distance_m, dtype=torch.float32)
    b = torch.as_tensor(bearing_deg, dtype=torch.float32) * (math.pi / 180.0)
    return torch.stack(
        [
            torch.log1p(d.clamp_min(0.0)),
            torch.sin(b),
            torch.cos(b),
            torch.as_tensor(dlat, dtype=torch.float32) * 100.0,  # ~km scale: 0.01 deg -> 1.0
            torch.as_tensor(dlon, dtype=torch.float32) * 100.0,
        ],
        dim=-1,
    )
