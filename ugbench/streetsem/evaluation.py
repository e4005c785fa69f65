"""Score StreetSem retrieval from embeddings: exact inner products in query blocks + exact tie counts.

Protocol (documented because the paper does not fix it): the corpus is every (image, fov) view of the
evaluated split; each view contributes its five queries, whose single relevant document is that view.
Scores are reported overall and per query type. Ties: ugcore.ranking's expected-value rule (see metrics.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ugcore.errors import UserError
from ugdata.streetsem.data import QUERY_TYPES, StreetSemData

from . import metrics as M

KS = (10, 20, 50)
WITHIN_KM = (1.0, 5.0)


def score_retrieval(
    q_emb: np.ndarray,
    q_truth: np.ndarray,
    q_type: np.ndarray,
    d_emb: np.ndarray,
    d_lat: np.ndarray,
    d_lng: np.ndarray,
) -> dict[str, Any]:
    """Recall@{10,20,50}, MRR and within-{1,5} km of the top-1, overall and per query type."""
    q_truth = np.asarray(q_truth, dtype=np.int64)
    counts = M.exact_counts(q_emb, d_emb, q_truth)
    near = M.top1_within(q_emb, d_emb, q_truth, d_lat, d_lng, WITHIN_KM)
    out: dict[str, Any] = {}

    def block(mask: np.ndarray) -> dict[str, float]:
        c = counts[mask]
        res = {f"recall_at_{k}": M.recall_at_k(c, k) for k in KS}
        res["mrr"] = M.mrr(c)
        for j, km in enumerate(WITHIN_KM):
            res[f"top1_within_{km:g}km"] = float(np.mean(near[mask, j])) if mask.any() else 0.0
        res["n_queries"] = int(mask.sum())
        return res

    out.update(block(np.ones(len(q_truth), dtype=bool)))
    types = np.asarray(q_type).astype(str)
    for qt in QUERY_TYPES:
        mask = types == qt
        if mask.any():
            for k, v in block(mask).items():
                out[f"{qt}/{k}"] = v
    out["n_documents"] = int(len(d_emb))
    out["main_score"] = out["recall_at_10"]
    return out


def expand_queries(q_vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 5, d) per-view query vectors -> flat (5n, d), truth index per query, query type per query."""
    n = q_vec.shape[0]
    flat = q_vec.reshape(n * len(QUERY_TYPES), -1)
    truth = np.repeat(np.arange(n), len(QUERY_TYPES))
    qtype = np.tile(np.array(QUERY_TYPES, dtype=object), n)
    return flat, truth, qtype


def load_vector_model(path: str, device: str | None = None):
    """A trained CSSR checkpoint folder as a model with the StreetSem vector API (`cfg.image_dim`, `cfg.text_dim`,
    `embed_queries(query_vecs)`, `embed_data(table, fov_known=)`), loaded through its `ugbench_model.json` loader
    like any checkpoint: ugbench does not import the trainer's package."""
    from ugbench.models.checkpoint import load

    model = load(str(path), device=device)
    missing = [a for a in ("cfg", "embed_queries", "embed_data") if not hasattr(model, a)]
    if missing:
        raise UserError(f"{path} loads a {type(model).__name__}, which lacks the StreetSem vector API "
                        f"({', '.join(missing)}); `ugbench streetsem evaluate` scores CSSR checkpoints and baselines")
    return model


def evaluate_encoder(model, data: StreetSemData, *, fov_known: bool = True) -> dict[str, Any]:
    """Retrieval scores of a CSSR-like model (vector API, see load_vector_model) on a StreetSem table (corpus =
    the table's views), plus `fov_accuracy`: its FoV head's accuracy with the FoV input hidden."""
    docs = model.embed_data(data, fov_known=fov_known)
    q, truth, qtype = expand_queries(data.query_vec)
    scores = score_retrieval(model.embed_queries(q), truth, qtype, docs["z_sem"], data.lat, data.lng)
    hidden = model.embed_data(data, fov_known=False)["fov_logits"].argmax(-1)
    scores["fov_accuracy"] = float(np.mean(hidden == data.fov))
    return scores
