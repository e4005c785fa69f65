"""A small retrieval evaluation used during training and by the learning benchmark.

Image -> caption retrieval over a split's views (global protocol: every query ranks all captions of the
split), through the model protocol (EncodeItem / encode) exactly as ugbench calls a model; with_graph adds
each view's ego subgraph (GraphContext) to the image query. Metrics: Recall@1/5/10 and MRR, with ties scored
by ugcore.ranking's rule (expected value over the orderings of tied captions), as ugbench scores its tasks:
all-zero embeddings score exactly chance (MRR = H(n)/n), not 1.0.
ugbench's own tasks are the reference scores; this exists so training can report progress without the
harness and so the learning test does not depend on which ugbench tasks a dataset holds.
"""

from __future__ import annotations

import numpy as np

from ugcore.protocol import EncodeItem, GraphContext
from ugcore.ranking import expected_first_rr, prob_within, tie_counts

QUERY_INSTRUCTION = "Describe the spatial context of this street view: streets, nearby places and surroundings."


def ranking_metrics(scores: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    """scores (Q, D); positive (Q,) index of the one relevant document per query."""
    better, tied = tie_counts(scores, scores[np.arange(len(scores)), positive])
    out = {f"recall@{k}": float(prob_within(better, tied, k).mean()) for k in (1, 5, 10)}
    out["mrr"] = float(expected_first_rr(better, tied, np.ones_like(tied)).mean())
    return out


def caption_retrieval(model, data, split: str, *, with_graph: bool, limit: int | None = None,
                      batch_size: int = 16) -> dict[str, float]:
    """`model`: an EncoderProtocol (UGEEmbedder) or a UGEModel (wrapped on the fly); limit: at most this many
    views of the split (evenly spaced, so the same ones every time)."""
    from .model import UGEModel

    if isinstance(model, UGEModel):
        from .embedder import UGEEmbedder

        model = UGEEmbedder(model, "in-training")
    views = data.views(split)
    if limit and len(views) > limit:
        # evenly spaced rows, not the first ones: a split is stored city by city, so a head would be one city
        views = views.iloc[np.linspace(0, len(views) - 1, limit).round().astype(int)]
    root = str(data.root)
    q_items = [EncodeItem(image=data.image(r.image_id), id=r.image_id,
                          graph=GraphContext(root, tuple(r.graph_context)) if with_graph else None)
               for r in views.itertuples()]
    d_items = [EncodeItem(text=c, id=f"cap:{i}") for i, c in zip(views.image_id, views.caption, strict=True)]
    q = model.encode(q_items, task_name="uge-caption-retrieval", side="query", instruction=QUERY_INSTRUCTION,
                     batch_size=batch_size)
    d = model.encode(d_items, task_name="uge-caption-retrieval", side="document", instruction=None,
                     batch_size=batch_size)
    return ranking_metrics(q @ d.T, np.arange(len(views)))
