"""Learning curves from UGE run directories: training loss vs step, one panel per stage, raw and smoothed; and,
when the runs evaluated during training, a second row with the held-out MRR vs step.

Input: a run directory (train.output_dir of `uge train`) or its metrics.jsonl. uge/tracking.py writes one
JSON object per logged step, {"step": int, "loss": float, "lr": ..., ...}, plus evaluation records
{"step": int, "eval/...": ...} without "loss": those with "eval/mrr" (train.eval_every_steps: held-out image ->
caption MRR on data.eval_split, step 0 = before training) make the second row, the others are skipped. The
stage comes from a record's own "stage"
field when present, else from the run's config.yaml (`train.stage`, written by uge/train.py beside
metrics.jsonl), else it is shown as "stage ?". A resumed run appends to metrics.jsonl, so a step can occur
twice: the last record of a step wins (it is the one the surviving checkpoint continued from).

Reading the JSON here is deliberate (ugbench never imports uge): the file format above is the contract.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ugcore.errors import UserError

from .render import check_png_path, color, new_figure, rc_context, save_png

METRICS_FILE = "metrics.jsonl"
SMOOTHING = 0.6  # TensorBoard's default exponential-moving-average weight
EVAL_KEY = "eval/mrr"  # the held-out score uge's trainer logs every train.eval_every_steps


@dataclass
class LossRun:
    name: str
    path: Path
    stage: int | None
    steps: np.ndarray
    loss: np.ndarray
    notes: list[str] = field(default_factory=list)
    eval_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    eval_mrr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


def _metrics_path(p: Path) -> Path:
    if p.is_dir():
        f = p / METRICS_FILE
        if not f.is_file():
            raise UserError(f"{p} has no {METRICS_FILE}; pass a `uge train` run directory (train.output_dir) "
                            "or the metrics.jsonl file itself")
        return f
    if not p.exists():
        raise UserError(f"{p} not found; pass a `uge train` run directory or its {METRICS_FILE}")
    return p


def _config_stage(run_dir: Path) -> int | None:
    cfg = run_dir / "config.yaml"
    if not cfg.is_file():
        return None
    import yaml

    try:
        raw = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
        stage = (raw.get("train") or {}).get("stage")
    except (yaml.YAMLError, AttributeError) as e:
        raise UserError(f"{cfg} is not a readable run config ({e}); fix or remove it") from None
    return int(stage) if stage is not None else None


def read_run(path: str | Path, *, name: str | None = None) -> list[LossRun]:
    """Parse one run's metrics.jsonl into one LossRun per stage found (usually one)."""
    f = _metrics_path(Path(path))
    run_dir = f.parent
    default_stage = _config_stage(run_dir)
    by_stage: dict[int | None, dict[int, float]] = {}
    evals: dict[int | None, dict[int, float]] = {}
    notes: list[str] = []
    repeated = 0
    with f.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{f} line {lineno} is not JSON ({e.msg}); each line must be one JSON object "
                                '{"step": int, "loss": float, ...}') from None
            if not isinstance(rec, dict):
                raise UserError(f"{f} line {lineno} is not a JSON object")
            if "loss" not in rec:  # an evaluation record: kept when it holds the held-out MRR
                step, mrr, stage = rec.get("step"), rec.get(EVAL_KEY), rec.get("stage", default_stage)
                if isinstance(step, int) and not isinstance(step, bool) and isinstance(mrr, (int, float)) \
                        and (stage is None or isinstance(stage, int)):
                    evals.setdefault(stage, {})[step] = float(mrr)
                continue
            step, loss = rec.get("step"), rec.get("loss")
            if not isinstance(step, int) or isinstance(step, bool) or not isinstance(loss, (int, float)):
                raise UserError(f'{f} line {lineno}: "step" must be an integer and "loss" a number '
                                f"(got step={step!r}, loss={loss!r})")
            stage = rec.get("stage", default_stage)
            if stage is not None and not isinstance(stage, int):
                raise UserError(f'{f} line {lineno}: "stage" must be an integer (got {stage!r})')
            series = by_stage.setdefault(stage, {})
            repeated += step in series
            series[step] = float(loss)
    if not by_stage:
        raise UserError(f"{f} has no training records (JSON lines with a \"loss\"); did the run log any step?")
    if repeated:
        notes.append(f"{repeated} repeated step(s) (a resumed run); the last record of each step is drawn")
    label = name or (run_dir.name if f.name == METRICS_FILE else f.stem)
    runs = []
    for stage in sorted(by_stage, key=lambda s: (s is None, s or 0)):
        steps = np.array(sorted(by_stage[stage]), dtype=np.int64)
        loss = np.array([by_stage[stage][s] for s in steps], dtype=np.float64)
        ev = evals.get(stage, {})
        ev_steps = np.array(sorted(ev), dtype=np.int64)
        runs.append(LossRun(label, f, stage, steps, loss, list(notes), ev_steps,
                            np.array([ev[s] for s in ev_steps], dtype=np.float64)))
    return runs


def ema(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing); non-finite values are skipped."""
    out = np.empty_like(values, dtype=np.float64)
    acc, n = 0.0, 0
    for i, v in enumerate(values):
        if math.isfinite(v):
            acc = acc * weight + (1 - weight) * v
            n += 1
        out[i] = acc / (1 - weight**n) if n else np.nan
    return out


def losses_figsize(n_stages: int, eval_row: bool = False) -> tuple[float, float]:
    """Inches: one 5-inch panel per stage (at least 6 inches wide); a second row when held-out MRR is drawn."""
    return max(6.0, 5.0 * n_stages), 7.8 if eval_row else 4.4


def loss_curves(runs: list[str | Path] | str | Path, out: str | Path, *, smoothing: float = SMOOTHING) -> Path:
    """Draw training loss vs step: one panel per stage; per run a faint raw line and a bold smoothed one. When any
    run logged held-out MRR (train.eval_every_steps), a second row shows it per stage."""
    out = check_png_path(out)
    if isinstance(runs, (str, Path)):
        runs = [runs]
    if not runs:
        raise UserError("no runs given; pass one or more `uge train` run directories or metrics.jsonl files")
    if not 0 <= smoothing < 1:
        raise UserError(f"smoothing must be in [0, 1) (got {smoothing})")
    series: list[LossRun] = [r for p in runs for r in read_run(p)]
    paths_by_name: dict[str, set[Path]] = {}
    for r in series:
        paths_by_name.setdefault(r.name, set()).add(r.path)
    for r in series:  # two runs both called e.g. "run": label them by their parent folder too
        if len(paths_by_name[r.name]) > 1:
            run_dir = r.path.parent if r.path.name == METRICS_FILE else r.path
            r.name = f"{run_dir.parent.name}/{r.name}"
    stages = sorted({r.stage for r in series}, key=lambda s: (s is None, s or 0))
    names = list(dict.fromkeys(r.name for r in series))  # one colour per run, across panels
    n_p = len(stages)
    eval_row = any(len(r.eval_steps) for r in series)
    width, height = losses_figsize(n_p, eval_row)
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    with rc_context():
        fig = new_figure(width, height)
        grid = fig.subplots(2 if eval_row else 1, n_p, squeeze=False)
        axes = grid[0]
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.25 / width, bottom=0.55 / height, top=1 - 0.75 / height,
                            wspace=0.9 / 5.0, hspace=0.9 / 3.4)
        if eval_row:
            for ax, stage in zip(grid[1], stages, strict=True):
                _draw_eval(ax, [r for r in series if r.stage == stage], names)
        for ax, stage in zip(axes, stages, strict=True):
            for r in (r for r in series if r.stage == stage):
                c = color(names.index(r.name))
                ax.plot(r.steps, r.loss, color=c, alpha=0.3, lw=1.0)
                ax.plot(r.steps, ema(r.loss, smoothing), color=c, lw=2.0, label=r.name,
                        marker="o" if len(r.steps) == 1 else None)
            title = "stage ?" if stage is None else f"stage {stage}" + (" (contrastive)" if stage == 1 else
                                                                         " (graph)" if stage == 2 else "")
            ax.set_title(title)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("optimizer step")
            ax.set_ylabel("training loss")
            ax.grid(color="#e5e5e5")
            handles, labels = ax.get_legend_handles_labels()
            handles.append(Line2D([], [], color="#444444", alpha=0.3, lw=1.0))
            labels.append("raw (faint)")
            ax.legend(handles, [lb if len(lb) <= 32 else lb[:31] + "…" for lb in labels], fontsize=8, loc="upper right")
        fig.suptitle(f"UGE training loss (bold: smoothed, EMA {smoothing:g})", fontsize=10, fontweight="bold",
                     y=1 - 0.12 / height, va="top")
        return save_png(fig, out)


def _draw_eval(ax, runs: list[LossRun], names: list[str]) -> None:
    """Held-out image -> caption MRR vs step (markers: the evaluations; step 0 is the untrained start)."""
    from matplotlib.ticker import MaxNLocator

    drawn = False
    for r in runs:
        if len(r.eval_steps):
            ax.plot(r.eval_steps, r.eval_mrr, color=color(names.index(r.name)), lw=2.0, marker="o", ms=4,
                    label=r.name)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no evaluations logged", ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_title("held-out image -> caption MRR (eval split)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("MRR")
    ax.grid(color="#e5e5e5")
    if drawn:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [lb if len(lb) <= 32 else lb[:31] + "…" for lb in labels], fontsize=8, loc="lower right")
