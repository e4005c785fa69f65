"""StreetSem data: the table every StreetSem loader produces (one row per (image, fov)) and its readers.

Upstream of both the trainer (`uge cssr`, uge/cssr/) and the benchmark (`ugbench streetsem`, ugbench/streetsem/),
so neither imports the other. See docs/streetsem.md.

Public API:
    StreetSemData, QUERY_TYPES             the table and its five query types
    load_dir / load_lmdb / write_lmdb      StreetSem as published (LMDB of vectors + metadata)
    load_raw / load_ugdata                 the same table from images + texts, or from a UGData directory
    assign_splits                          80/10/10 over (image, fov) pairs, or spatially blocked
    synthetic_streetsem                    a small table with signal, for tests and demos
"""

from .data import QUERY_TYPES, StreetSemData
from .lmdb_store import load_dir, load_lmdb, write_lmdb
from .sources import load_raw, load_ugdata
from .splits import assign_splits
from .synthetic import synthetic_streetsem

__all__ = [
    "QUERY_TYPES", "StreetSemData", "assign_splits", "load_dir", "load_lmdb", "load_raw", "load_ugdata",
    "synthetic_streetsem", "write_lmdb",
]
