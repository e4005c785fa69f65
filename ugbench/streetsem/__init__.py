"""The StreetSem track, benchmark side: text query -> street view retrieval scores (see docs/streetsem.md).

The data (table, LMDB store, raw/UGData sources, splits) lives in ugdata.streetsem; the CSSR model and its
trainer live in uge.cssr (`uge cssr train`). Here: the metrics, the scoring of a model's embeddings, and the
baselines. A CSSR checkpoint loads through its `ugbench_model.json` loader (evaluation.load_vector_model).

Public API:
    score_retrieval                        Recall@{10,20,50}, MRR, top-1 within 1/5 km, per query type
    evaluate_encoder, load_vector_model    score a CSSR checkpoint (vector API) on a StreetSem table
    BASELINES, run_baseline                content-text, linear-map, bm25
    load_dir / load_lmdb / write_lmdb / load_raw / load_ugdata / assign_splits / StreetSemData / QUERY_TYPES
                                           re-exported from ugdata.streetsem
"""

from ugdata.streetsem import (
    QUERY_TYPES,
    StreetSemData,
    assign_splits,
    load_dir,
    load_lmdb,
    load_raw,
    load_ugdata,
    write_lmdb,
)

from .baselines import BASELINES, run_baseline
from .evaluation import evaluate_encoder, load_vector_model, score_retrieval

__all__ = [
    "BASELINES", "QUERY_TYPES", "StreetSemData", "assign_splits", "evaluate_encoder", "load_dir", "load_lmdb",
    "load_raw", "load_ugdata", "load_vector_model", "run_baseline", "score_retrieval", "write_lmdb",
]
