"""Train CSSR on a StreetSem table (from the LMDB, raw images+texts, or UGData).

Paper recipe: AdamW (lr 1e-4), linear warmup (5 epochs) then cosine decay, batch 512, early stopping on the
validation Recall@10. Batches are built from whole panoramas (all training FoVs of an image together), so
each view's other FoVs are in its batch as hard negatives for the semantic InfoNCE.

Validation (and the test score `uge cssr train` records in training.json) is training-side, like
uge/quick_eval.py: Recall@1/5/10 and MRR from uge.quick_eval.ranking_metrics (its tie rule) and FoV accuracy.
The benchmark's scores (per query type, R@20/50, top-1 within 1/5 km) come from `ugbench streetsem evaluate`
or `ugbench evaluate --model CKPT`; on untied embeddings their R@10 and MRR are the same numbers.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ugcore.errors import UserError
from ugdata.streetsem.data import QUERY_TYPES, StreetSemData

from ..quick_eval import ranking_metrics
from .encoder import CSSREncoder
from .losses import fov_cross_entropy, geo_kl, multi_positive_infonce, uncertainty_weighted
from .model import CSSR, CSSRConfig, geohash_ids


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 512
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_epochs: float = 5.0
    patience: int = 5  # epochs without a better validation (R@10, then MRR) before stopping
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    max_val_views: int | None = 5000  # validation corpus cap per epoch (the whole split when None)


@dataclass
class TrainResult:
    encoder: CSSREncoder
    history: list[dict[str, Any]]
    best: dict[str, Any]
    step_times_s: list[float]


def panorama_batches(images: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices grouped by panorama, panoramas shuffled, packed into batches of about batch_size rows."""
    groups: dict[str, list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(str(im), []).append(i)
    keys = sorted(groups)
    order = rng.permutation(len(keys))
    batches, cur = [], []
    for j in order:
        cur.extend(groups[keys[j]])
        if len(cur) >= batch_size:
            batches.append(np.array(cur))
            cur = []
    if len(cur) >= 2:
        batches.append(np.array(cur))
    return batches


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def evaluate_encoder(enc: CSSREncoder, data: StreetSemData, *, fov_known: bool = True,
                     chunk: int = 4096) -> dict[str, Any]:
    """Training-side retrieval scores of a CSSR on a StreetSem table (corpus = the table's views; each view's
    five queries have it as their one relevant document): recall_at_1/5/10, mrr, and fov_accuracy with the
    FoV input hidden. Queries are scored in chunks (the means are exact), so memory stays chunk x views."""
    docs = enc.embed_data(data, fov_known=fov_known)["z_sem"]
    q = enc.embed_queries(data.query_vec.reshape(len(data) * len(QUERY_TYPES), -1))
    truth = np.repeat(np.arange(len(data)), len(QUERY_TYPES))
    sums: dict[str, float] = {}
    for s in range(0, len(q), chunk):
        part = ranking_metrics(q[s : s + chunk] @ docs.T, truth[s : s + chunk])
        for k, v in part.items():
            sums[k] = sums.get(k, 0.0) + v * len(truth[s : s + chunk])
    scores: dict[str, Any] = {k.replace("recall@", "recall_at_"): v / max(1, len(q)) for k, v in sums.items()}
    hidden = enc.embed_data(data, fov_known=False)["fov_logits"].argmax(-1)
    scores["fov_accuracy"] = float(np.mean(hidden == data.fov)) if len(data) else 0.0
    scores.update(n_queries=int(len(q)), n_documents=int(len(data)))
    return scores


def compute_losses(model: CSSR, batch: dict[str, torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
    cfg = model.cfg
    b = batch["image_vec"].shape[0]
    hide_fov = torch.rand(b, generator=gen) < cfg.fov_dropout
    hide_place = torch.rand(b, generator=gen) < cfg.place_dropout
    dev = batch["image_vec"].device
    fov_in = torch.where(hide_fov.to(dev), torch.full_like(batch["fov"], cfg.n_fov), batch["fov"])
    place_in = torch.where(hide_place.to(dev), torch.zeros_like(batch["place"]), batch["place"])
    docs = model.encode_docs(batch["image_vec"], batch["content_vec"], batch["gh"], place_in, fov_in)
    q = batch["query_vec"].reshape(b * len(QUERY_TYPES), -1)
    z_q, aux_q = model.encode_queries(q)
    owner = torch.arange(b, device=dev).repeat_interleave(len(QUERY_TYPES))
    l_sem = multi_positive_infonce(
        z_q, docs["z_sem"], owner, cfg.temperature, doc_place=batch["place"], hard_negative_weight=cfg.hard_negative_weight
    )
    l_geo = geo_kl(docs["z_geo"], batch["lat"], batch["lng"], cfg.geo_temperature)
    l_fov = fov_cross_entropy(docs["fov_logits"], batch["fov"], hide_fov.to(dev))
    aux = docs["aux"] + aux_q
    total = uncertainty_weighted([l_sem, l_geo, l_fov], model.log_sigma) + aux
    return {"loss": total, "sem": l_sem, "geo": l_geo, "fov": l_fov, "moe_aux": aux}


def train_cssr(
    data: StreetSemData,
    model_cfg: CSSRConfig | None = None,
    train_cfg: TrainConfig | None = None,
    *,
    tiny: bool = False,
    encoders: dict[str, Any] | None = None,
    name: str = "cssr",
    provenance: dict[str, Any] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train on data's train split, early-stop on val R@10, return the best model (as a CSSREncoder)."""
    tc = train_cfg or TrainConfig()
    if data.split is None:
        raise UserError("the StreetSem table has no splits; assign them first (ugdata.streetsem.splits)")
    train, val = data.split_rows("train"), data.split_rows("val")
    if len(train) < 2 or len(val) < 1:
        raise UserError(f"need at least 2 training and 1 validation view; got {len(train)} and {len(val)}")
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    gen = torch.Generator().manual_seed(tc.seed)
    places = sorted({str(i) for i in train.image})
    if model_cfg is None:
        make = CSSRConfig.tiny if tiny else CSSRConfig
        model_cfg = make(image_dim=data.image_dim, text_dim=data.text_dim, n_places=len(places))
    if (model_cfg.image_dim, model_cfg.text_dim) != (data.image_dim, data.text_dim):
        raise UserError(
            f"model expects image/text dims {model_cfg.image_dim}/{model_cfg.text_dim}; data has {data.image_dim}/{data.text_dim}"
        )
    model_cfg.n_places = len(places)
    model = CSSR(model_cfg).to(tc.device)
    enc = CSSREncoder(model, places, encoders=encoders, name=name, training=dict(provenance or {}), device=tc.device)
    dev = torch.device(tc.device)
    t = {
        "image_vec": torch.as_tensor(train.image_vec),
        "content_vec": torch.as_tensor(train.content_vec),
        "query_vec": torch.as_tensor(train.query_vec),
        "gh": geohash_ids(list(train.geohash), model_cfg.geohash_len),
        "place": torch.as_tensor(enc.place_ids(train.image)),
        "fov": torch.as_tensor(train.fov),
        "lat": torch.as_tensor(train.lat),
        "lng": torch.as_tensor(train.lng),
    }
    val_eval = val
    if tc.max_val_views is not None and len(val) > tc.max_val_views:
        val_eval = val.subset(np.sort(np.random.default_rng(tc.seed).choice(len(val), tc.max_val_views, replace=False)))
    steps_per_epoch = len(panorama_batches(train.image, tc.batch_size, np.random.default_rng(0)))
    total_steps = steps_per_epoch * tc.epochs
    warmup_steps = int(round(tc.warmup_epochs * steps_per_epoch))
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, warmup_steps, total_steps))
    history: list[dict[str, Any]] = []
    step_times: list[float] = []
    best: dict[str, Any] = {"recall_at_10": -1.0, "epoch": -1}
    best_state = copy.deepcopy(model.state_dict())
    bad_epochs, step = 0, 0
    for epoch in range(tc.epochs):
        model.train()
        sums: dict[str, float] = {}
        batches = panorama_batches(train.image, tc.batch_size, rng)
        for bi in batches:
            t0 = time.perf_counter()
            idx = torch.as_tensor(bi)
            batch = {k: v[idx].to(dev) for k, v in t.items()}
            losses = compute_losses(model, batch, gen)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            sched.step()
            step_times.append(time.perf_counter() - t0)
            step += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if on_step is not None:
                on_step(step, total_steps)
        model.eval()
        scores = evaluate_encoder(enc, val_eval)
        rec = {"epoch": epoch, "steps": step, **{f"train_{k}": v / max(1, len(batches)) for k, v in sums.items()},
               "val_recall_at_10": scores["recall_at_10"], "val_mrr": scores["mrr"],
               "val_fov_accuracy": scores["fov_accuracy"], "lr": opt.param_groups[0]["lr"]}
        history.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
        # early stopping on val R@10 (the paper's criterion), MRR breaking ties when R@10 saturates
        if (scores["recall_at_10"], scores["mrr"]) > (best["recall_at_10"], best.get("mrr", -1.0)):
            best = {"epoch": epoch, **{k: v for k, v in scores.items() if "/" not in k}}
            best_state = copy.deepcopy(model.state_dict())
            bad_epochs = 0
        else:
            bad_epochs += 1
            if bad_epochs >= tc.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    enc.training.update(
        {
            "train_config": asdict(tc),
            "history": history,
            "best_val": best,
            "n_train_views": len(train),
            "n_val_views": len(val),
            "step_time_s_median": float(np.median(step_times)) if step_times else None,
            "fov_names": list(data.fov_names),
            "source": data.source,
        }
    )
    return TrainResult(enc, history, best, step_times)
