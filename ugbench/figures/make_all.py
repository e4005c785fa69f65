"""Every figure from whatever inputs are given: the set `ugbench figures all` (and the demo) produces.

A figure whose inputs were not given is skipped with the reason; an input that was given but is bad
(missing file, malformed JSON, unknown model) is an error, never a silent skip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILENAMES = {
    "map": "map.png",
    "retrieval": "retrieval_grid.png",
    "bars": "family_bars.png",
    "radar": "family_radar.png",
    "losses": "loss_curves.png",
}


@dataclass
class FigureSet:
    written: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # figure -> why


@dataclass
class Job:
    name: str
    needs: str  # what the figure needs, for the skip message
    ready: bool
    run: Callable[[Path], Any]


def plan(*, data: str | Path | None = None, leaderboard: str | Path | None = None,
         runs: Sequence[str | Path] = (), model: Any = None, task: str = "retrieval_caption2image",
         n_queries: int = 4, k: int = 5, split: str = "test", seed: int = 0) -> list[Job]:
    from .leaderboard_charts import family_bars, radar
    from .loss_curves import loss_curves
    from .map_figure import map_figure
    from .retrieval_grid import retrieval_grid

    return [
        Job("map", "--data", data is not None, lambda out: map_figure(data, out)),
        Job("retrieval", "--data and --model", data is not None and model is not None,
            lambda out: retrieval_grid(data, model, task=task, n_queries=n_queries, k=k, out=out, split=split,
                                       seed=seed).out),
        Job("bars", "--leaderboard", leaderboard is not None, lambda out: family_bars(leaderboard, out)),
        Job("radar", "--leaderboard", leaderboard is not None, lambda out: radar(leaderboard, out)),
        Job("losses", "--runs", bool(runs), lambda out: loss_curves(list(runs), out)),
    ]


def check_inputs(*, data=None, leaderboard=None, runs=(), model=None, **_: Any) -> None:
    """Fail before drawing anything when a given input is unusable (cheap checks only)."""
    from ugcore.errors import UserError

    if data is not None and not (Path(data) / "manifest.json").is_file():
        raise UserError(f"--data {data} is not a UGData directory (no manifest.json); build one with `ugdata build`")
    if leaderboard is not None and not Path(leaderboard).is_file():
        raise UserError(f"leaderboard {leaderboard} not found; `ugbench submit` creates it, or check the path")
    for r in runs:
        if not Path(r).exists():
            raise UserError(f"{r} not found; pass a `uge train` run directory or its metrics.jsonl")
    if isinstance(model, str):
        from ugbench.models.registry import resolve

        resolve(model)  # an unknown name fails here, with the registry's did-you-mean


def make_all(out_dir: str | Path, *, on_start: Callable[[str], None] | None = None, **inputs: Any) -> FigureSet:
    """Write every figure whose inputs are given into `out_dir` (see FILENAMES); `inputs` as in `plan`."""
    out_dir = Path(out_dir)
    check_inputs(**inputs)
    result = FigureSet()
    for job in plan(**inputs):
        if not job.ready:
            result.skipped[job.name] = f"no {job.needs} given"
            continue
        if on_start is not None:
            on_start(job.name)
        result.written[job.name] = Path(job.run(out_dir / FILENAMES[job.name]))
    return result
