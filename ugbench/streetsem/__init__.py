"""The StreetSem track: text query -> street view retrieval with CSSR (see docs/streetsem.md).

Public API:
    load_dir / load_lmdb / write_lmdb      StreetSem as published (LMDB of vectors + metadata)
    load_raw / load_ugdata                 the same table from images + texts, or from a UGData directory
    assign_splits                          80/10/10 over (image, fov) pairs, or spatially blocked
    CSSR, CSSRConfig, CSSREncoder          the model, its config, and the ugbench-protocol wrapper
    train_cssr, TrainConfig, evaluate_encoder
    score_retrieval                        Recall@{10,20,50}, MRR, top-1 within 1/5 km, per query type
"""

from .data import QUERY_TYPES, StreetSemData
from .encoder import CSSREncoder
from .evaluation import score_retrieval
from .lmdb_store import load_dir, load_lmdb, write_lmdb
from .model import CSSR, CSSRConfig, load_checkpoint
from .sources import load_raw, load_ugdata
from .splits import assign_splits
from .train import TrainConfig, evaluate_encoder, train_cssr

__all__ = [
    "CSSR", "QUERY_TYPES", "CSSRConfig", "CSSREncoder", "StreetSemData", "TrainConfig", "assign_splits",
    "evaluate_encoder", "load_checkpoint", "load_dir", "load_lmdb", "load_raw", "load_ugdata", "score_retrieval",
    "train_cssr", "write_lmdb",
]
