"""Baselines beside CSSR on a StreetSem table (same splits, same metrics).

* `content-text`: zero-training cross-modal-by-proxy: rank views by cosine between the query vector and the
  view's content (summary) vector, both in the same text space (MiniLM on the summary, for UGData/raw).
* `linear-map`: the plain cross-modal baseline: a ridge regression W (fitted on the train split) maps query
  vectors into the image-vector space; views are ranked by cosine between W q and the image vector.
* `bm25`: keyword retrieval over the summary texts (needs texts: raw/UGData sources or an LMDB with
  texts.parquet), through ugbench's registered `bm25` model adapter.
Each returns (query embeddings, document embeddings) for `evaluation.score_retrieval`.
"""

from __future__ import annotations

import numpy as np

from ugcore.errors import UserError
from ugdata.streetsem.data import QUERY_TYPES, StreetSemData

BASELINES = ("content-text", "linear-map", "bm25")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def content_text(test: StreetSemData) -> tuple[np.ndarray, np.ndarray]:
    q = test.query_vec.reshape(len(test) * len(QUERY_TYPES), -1)
    return _unit(q), _unit(test.content_vec)


def fit_linear_map(train: StreetSemData, alpha: float = 1.0) -> np.ndarray:
    """Ridge W (d_txt + 1, d_img) minimising ||[q, 1] W - image||^2 + alpha ||W||^2 over all train queries."""
    from sklearn.linear_model import Ridge

    q = train.query_vec.reshape(len(train) * len(QUERY_TYPES), -1)
    y = np.repeat(_unit(train.image_vec), len(QUERY_TYPES), axis=0)
    r = Ridge(alpha=alpha, fit_intercept=True).fit(q, y)
    return np.vstack([r.coef_.T, r.intercept_[None, :]]).astype(np.float32)


def linear_map(train: StreetSemData, test: StreetSemData, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    w = fit_linear_map(train, alpha)
    q = test.query_vec.reshape(len(test) * len(QUERY_TYPES), -1)
    return _unit(q @ w[:-1] + w[-1]), _unit(test.image_vec)


def bm25(test: StreetSemData) -> tuple[np.ndarray, np.ndarray]:
    if test.content_text is None or test.query_text is None:
        raise UserError("the bm25 baseline needs texts; this StreetSem table has vectors only (add texts.parquet)")
    from ugbench.models.registry import UnknownModelError, load_model
    from ugcore.protocol import EncodeItem

    try:
        model = load_model("bm25")
    except UnknownModelError as e:
        raise UserError("no 'bm25' model adapter is registered in ugbench.models; the keyword baseline needs it") from e
    docs = [EncodeItem(text=str(t), id=f"d{i}") for i, t in enumerate(test.content_text)]
    queries = [EncodeItem(text=str(t)) for t in test.query_text.reshape(-1)]
    if hasattr(model, "fit"):
        model.fit(docs)
    d = model.encode(docs, task_name="streetsem", side="document")
    q = model.encode(queries, task_name="streetsem", side="query")
    return np.asarray(q, np.float32), np.asarray(d, np.float32)


def run_baseline(name: str, train: StreetSemData, test: StreetSemData) -> tuple[np.ndarray, np.ndarray]:
    if name == "content-text":
        return content_text(test)
    if name == "linear-map":
        return linear_map(train, test)
    if name == "bm25":
        return bm25(test)
    raise UserError(f"unknown StreetSem baseline '{name}'; choose from {', '.join(BASELINES)}")
