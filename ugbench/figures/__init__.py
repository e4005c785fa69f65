"""Figures for people who would rather look than read: deterministic PNGs (matplotlib, Agg) of

- map_figure(data_dir, out): the city, anchored views and a reasoning path (ugdata's plot);
- retrieval_grid(data_dir, model, task=..., n_queries=4, k=5, out=..., split="test", seed=0): queries, the
  model's top-k with rank and score, and the truth, framed green (relevant) or red;
- family_bars(leaderboard_json, out) and radar(leaderboard_json, out): per-family means per model;
- loss_curves(run_dirs_or_metrics_jsonl, out): UGE training loss per stage, raw and smoothed;
- make_all(out_dir, data=..., leaderboard=..., runs=..., model=...): all of them (CLI: `ugbench figures`).
"""

from .leaderboard_charts import family_bars, radar
from .loss_curves import loss_curves
from .make_all import FILENAMES, FigureSet, make_all
from .map_figure import map_figure
from .retrieval_grid import RetrievalGrid, retrieval_grid

__all__ = ["FILENAMES", "FigureSet", "RetrievalGrid", "family_bars", "loss_curves", "make_all", "map_figure",
           "radar", "retrieval_grid"]
