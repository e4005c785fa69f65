"""CSSR (cross-modal spatial semantic retrieval), as the StreetSem paper's code describes it, in torch.

Document side (one street view = one (image, fov) pair):
    image vector -> LayerNorm+Linear -> + per-image (panorama) embedding + FoV embedding
        -> sparse MoE block (st-moe-pytorch: 4 experts, top-2, threshold 0.2, balance 1e-2, router-z 1e-3)
    content (summary) vector -> LayerNorm+Linear -> shared text MoE block
    geohash (10 chars + BOS/EOS) -> char embedding + sinusoidal positions -> 4-layer Transformer (BOS pooled)
    [image, content, geo] tokens + token-type embedding -> 4-layer fusion Transformer -> mean pool
        -> heads z_sem (768, L2-normalised), z_geo (768, L2-normalised), z_fov (4 logits)
Query side: query vector -> LayerNorm+Linear -> the SAME text MoE block -> query head (768, L2-normalised).

Two choices the paper leaves open, made here and documented:
* MoE grouping. st-moe routes within a group (dim 1 of a (batch, group, dim) input) and caps each expert's
  load per group; its dispatch tensors grow as group_size^2. Training cuts the batch into groups of at most
  `moe_group_size` tokens (ST-MoE's own practice), so the balance loss sees each group's expert load (its
  purpose) at linear cost; inference feeds each item as its own group, so no token is ever dropped for
  capacity and an item's embedding does not depend on what else is in the batch.
* Eval routing. st-moe routes to the second expert at random (probability gate2/threshold) even in eval mode;
  `threshold_eval` defaults to 1e-9, which always routes to both top experts: embeddings are deterministic.
* Unknown inputs. Index 0 of the per-image embedding is "unseen image" and index 4 of the FoV embedding is
  "FoV unknown"; training replaces them at random (`place_dropout`, `fov_dropout`) so the model also works for
  new images and for the FoV-prediction task, where the FoV input is hidden (the FoV loss is computed only
  on rows whose FoV input was hidden: otherwise the head just copies its input).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from st_moe_pytorch import MoE, SparseMoEBlock
from torch import nn

from ugdata.streetsem.geohash import BASE32

GH_PAD, GH_BOS, GH_EOS, GH_UNK = 0, 1, 2, 3
GH_VOCAB = 4 + len(BASE32)
_GH_INDEX = {c: 4 + i for i, c in enumerate(BASE32)}


@dataclass
class CSSRConfig:
    image_dim: int
    text_dim: int
    n_places: int  # per-image embeddings (index 0 = unseen image, so the table has n_places + 1 rows)
    d_model: int = 768
    out_dim: int = 768
    n_heads: int = 8
    geo_layers: int = 4
    fusion_layers: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    n_experts: int = 4
    top_n: int = 2
    threshold_train: float = 0.2
    threshold_eval: float = 1e-9
    balance_loss_coef: float = 1e-2
    router_z_loss_coef: float = 1e-3
    capacity_factor_train: float = 1.25
    capacity_factor_eval: float = 2.0
    expert_hidden_mult: int = 4
    moe_group_size: int = 256  # tokens per routing group in training
    geohash_len: int = 10
    n_fov: int = 4
    temperature: float = 0.03
    geo_temperature: float = 0.1
    hard_negative_weight: float = 1.0  # >1 up-weights same-panorama other-FoV negatives in the InfoNCE
    fov_dropout: float = 0.5
    place_dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def tiny(cls, image_dim: int, text_dim: int, n_places: int, **kw) -> CSSRConfig:
        """A few-thousand-parameter CSSR for tests and the demo (same architecture, small widths)."""
        base = dict(d_model=32, out_dim=32, n_heads=2, geo_layers=1, fusion_layers=1, ff_mult=2, dropout=0.0,
                    expert_hidden_mult=2)
        base.update(kw)
        return cls(image_dim=image_dim, text_dim=text_dim, n_places=n_places, **base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def geohash_ids(geohashes, length: int = 10) -> torch.Tensor:
    """Geohash strings -> (n, length + 2) token ids: BOS, chars (UNK for non-base32, PAD past the end), EOS."""
    out = torch.full((len(geohashes), length + 2), GH_PAD, dtype=torch.long)
    for i, g in enumerate(geohashes):
        g = "" if g is None else str(g).lower()[:length]
        out[i, 0] = GH_BOS
        for j, c in enumerate(g):
            out[i, 1 + j] = _GH_INDEX.get(c, GH_UNK)
        out[i, 1 + len(g)] = GH_EOS
    return out


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe


def _encoder(cfg: CSSRConfig, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.n_heads, cfg.d_model * cfg.ff_mult, cfg.dropout, batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def _moe_block(cfg: CSSRConfig) -> SparseMoEBlock:
    moe = MoE(
        dim=cfg.d_model,
        num_experts=cfg.n_experts,
        gating_top_n=cfg.top_n,
        threshold_train=cfg.threshold_train,
        threshold_eval=cfg.threshold_eval,
        capacity_factor_train=cfg.capacity_factor_train,
        capacity_factor_eval=cfg.capacity_factor_eval,
        balance_loss_coef=cfg.balance_loss_coef,
        router_z_loss_coef=cfg.router_z_loss_coef,
        expert_hidden_mult=cfg.expert_hidden_mult,
    )
    return SparseMoEBlock(moe, add_ff_before=False, add_ff_after=True)


class CSSR(nn.Module):
    def __init__(self, cfg: CSSRConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.img_in = nn.Sequential(nn.LayerNorm(cfg.image_dim), nn.Linear(cfg.image_dim, d))
        self.place = nn.Embedding(cfg.n_places + 1, d)
        nn.init.normal_(self.place.weight, std=0.02)
        self.fov = nn.Embedding(cfg.n_fov + 1, d)
        nn.init.normal_(self.fov.weight, std=0.02)
        self.img_moe = _moe_block(cfg)
        self.txt_in = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, d))
        self.txt_moe = _moe_block(cfg)
        self.query_head = nn.Linear(d, cfg.out_dim)
        self.gh_emb = nn.Embedding(GH_VOCAB, d, padding_idx=GH_PAD)
        self.register_buffer("gh_pos", sinusoidal_positions(cfg.geohash_len + 2, d), persistent=False)
        self.geo_enc = _encoder(cfg, cfg.geo_layers)
        self.type_emb = nn.Embedding(3, d)
        self.fusion = _encoder(cfg, cfg.fusion_layers)
        self.fusion_norm = nn.LayerNorm(d)
        self.sem_head = nn.Linear(d, cfg.out_dim)
        self.geo_head = nn.Linear(d, cfg.out_dim)
        self.fov_head = nn.Linear(d, cfg.n_fov)
        # log sigma_i for the semantic, geo and FoV losses (Kendall et al. uncertainty weighting)
        self.log_sigma = nn.Parameter(torch.zeros(3))

    # -- blocks -------------------------------------------------------------------------------------------
    def _moe(self, block: SparseMoEBlock, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, d) -> (n, d), aux loss. One routing group per batch in training, one per item otherwise."""
        if self.training:
            outs, aux = [], []
            for chunk in x.split(self.cfg.moe_group_size):
                out = block(chunk.unsqueeze(0))
                outs.append(out.outputs.squeeze(0))
                aux.append(out.total_aux_loss)
            return torch.cat(outs), torch.stack(aux).mean()
        out = block(x.unsqueeze(1))
        return out.outputs.squeeze(1), out.total_aux_loss

    def text_tokens(self, vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._moe(self.txt_moe, self.txt_in(vec))

    def encode_queries(self, query_vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, text_dim) query vectors -> (n, out_dim) unit vectors, MoE aux loss."""
        h, aux = self.text_tokens(query_vec)
        return F.normalize(self.query_head(h), dim=-1), aux

    def encode_docs(
        self,
        image_vec: torch.Tensor,
        content_vec: torch.Tensor,
        gh_ids: torch.Tensor,
        place_idx: torch.Tensor,
        fov_idx: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Street views -> z_sem, z_geo (unit vectors), fov_logits and the MoE aux loss.

        place_idx 0 = unseen image; fov_idx == n_fov = FoV unknown.
        """
        img = self.img_in(image_vec) + self.place(place_idx) + self.fov(fov_idx)
        img, aux_i = self._moe(self.img_moe, img)
        txt, aux_t = self.text_tokens(content_vec)
        g = self.gh_emb(gh_ids) + self.gh_pos[None, : gh_ids.shape[1]]
        g = self.geo_enc(g, src_key_padding_mask=gh_ids.eq(GH_PAD))[:, 0]
        tokens = torch.stack([img, txt, g], dim=1) + self.type_emb.weight[None]
        h = self.fusion_norm(self.fusion(tokens).mean(dim=1))
        return {
            "z_sem": F.normalize(self.sem_head(h), dim=-1),
            "z_geo": F.normalize(self.geo_head(h), dim=-1),
            "fov_logits": self.fov_head(h),
            "aux": aux_i + aux_t,
        }


def load_checkpoint(path: str, device: str | None = None):
    """ugbench_model.json loader: a trained CSSR checkpoint directory -> an EncoderProtocol model."""
    from .encoder import CSSREncoder

    return CSSREncoder.load(path, device=device)


def n_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))

