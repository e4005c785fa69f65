"""Leaderboard charts: grouped bars and a radar of the per-family means of each model.

The numbers are the leaderboard file's own `aggregates.per_family` (recomputed at submission, see
ugbench/leaderboard/models.py), never recomputed here, so the charts always agree with the table. A family
mean is null when a partial submission misses one of its tasks: such a value is drawn as "n/a", never as 0.
Models appear in the leaderboard's ranking order; scores are shown x100, as on the leaderboard page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .render import MISSING, check_png_path, color, new_figure, rc_context, save_png


@dataclass
class FamilyTable:
    """Per-family means (x100; NaN = not available) of the current entries, in ranking order."""

    benchmark: str
    families: list[str]
    models: list[str]
    partial: list[bool]
    values: np.ndarray  # (n_models, n_families)


def family_table(leaderboard_json: str | Path) -> FamilyTable:
    """Read and validate a leaderboard file (one-line UserError on any defect) into a FamilyTable."""
    from ugbench.leaderboard import load_leaderboard
    from ugbench.leaderboard.render import ranked_entries
    from ugcore.errors import UserError

    lb = load_leaderboard(leaderboard_json)
    entries = ranked_entries(lb)
    if not entries:
        raise UserError(f"leaderboard {leaderboard_json} has no entries for {lb.benchmark.name} "
                        f"{lb.benchmark.version}; add some with `ugbench submit`")
    fams = list(lb.benchmark.families)
    names = [e.model.name for e in entries]
    # Two revisions of one model would get the same label: add the revision where names repeat.
    labels = [f"{e.model.name} ({e.model.revision})" if names.count(e.model.name) > 1 else e.model.name
              for e in entries]
    vals = np.array([[np.nan if e.aggregates.per_family.get(f) is None else 100.0 * e.aggregates.per_family[f]
                      for f in fams] for e in entries], dtype=np.float64)
    return FamilyTable(f"{lb.benchmark.name} {lb.benchmark.version}", fams, labels, [e.partial for e in entries],
                       vals)


def _label(t: FamilyTable, i: int) -> str:
    name = t.models[i] if len(t.models[i]) <= 40 else t.models[i][:39] + "…"
    return name + (" (partial)" if t.partial[i] else "")


def bars_figsize(n_models: int, n_families: int) -> tuple[float, float]:
    """Inches: wide enough for every bar of every family; taller as the legend (3 models a row) grows."""
    return max(7.0, 1.2 + n_families * max(1.6, 0.42 * n_models)), 4.6 + 0.22 * math.ceil(n_models / 3)


RADAR_DISC_IN, RADAR_TOP_IN, RADAR_LABELS_IN = 4.6, 0.95, 0.6  # the polar disc, title + top label, bottom labels


def radar_figsize(n_models: int) -> tuple[float, float]:
    """Inches: a fixed disc with room for the family labels, plus the legend (2 models a row)."""
    return 7.0, RADAR_TOP_IN + RADAR_DISC_IN + RADAR_LABELS_IN + _radar_legend_in(n_models)


def _radar_legend_in(n_models: int) -> float:
    return 0.25 + 0.22 * math.ceil(n_models / 2)


def family_bars(leaderboard_json: str | Path, out: str | Path) -> Path:
    """Grouped bars: one group per task family, one bar per model (its family mean, x100)."""
    out = check_png_path(out)
    t = family_table(leaderboard_json)
    n_m, n_f = len(t.models), len(t.families)
    group_w = 0.8
    bar_w = group_w / n_m
    width, height = bars_figsize(n_m, n_f)
    legend_rows = math.ceil(n_m / 3)
    with rc_context():
        fig = new_figure(width, height)
        ax = fig.add_axes((0.8 / width, (0.75 + 0.22 * legend_rows) / height, 1 - 1.0 / width,
                           1 - (1.35 + 0.22 * legend_rows) / height))
        x = np.arange(n_f)
        label_size = 7 if n_m <= 4 else 6
        for i in range(n_m):
            xs = x - group_w / 2 + bar_w * (i + 0.5)
            v = t.values[i]
            ok = ~np.isnan(v)
            ax.bar(xs[ok], v[ok], width=bar_w * 0.92, color=color(i), label=_label(t, i), zorder=2)
            for xi, vi in zip(xs[ok], v[ok], strict=True):
                if n_m <= 8:
                    ax.text(xi, vi + 1.0, f"{vi:.1f}", ha="center", va="bottom", fontsize=label_size,
                            rotation=90 if n_m > 3 else 0)
            for xi in xs[~ok]:
                ax.text(xi, 1.0, "n/a", ha="center", va="bottom", fontsize=7.5, rotation=90, color=MISSING)
        ax.set_xticks(x, t.families)
        top = np.nanmax(t.values) if np.isfinite(t.values).any() else 0.0
        ax.set_ylim(0, min(100.0, max(10.0, top * 1.25 + 4)) if top < 80 else 112)
        ax.set_ylabel("family mean of main scores (×100)")
        ax.set_xlabel("task family")
        ax.grid(axis="y", color="#dddddd", zorder=0)
        ax.set_title(f"{t.benchmark}: per-family scores by model")
        fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=min(3, n_m), fontsize=8,
                   frameon=False, bbox_to_anchor=(0.5, 0.01))
        return save_png(fig, out)


def radar(leaderboard_json: str | Path, out: str | Path) -> Path:
    """A radar chart: one axis per task family, one polygon per model (family means, x100).

    With fewer than three families a polygon has no area, so the axes still show but the shape carries
    little; family_bars is the better view then. A missing family mean leaves a gap in that model's outline.
    """
    out = check_png_path(out)
    t = family_table(leaderboard_json)
    n_m, n_f = len(t.models), len(t.families)
    angles = np.linspace(0, 2 * np.pi, n_f, endpoint=False)  # first family at the top, then clockwise
    legend_h = _radar_legend_in(n_m)
    size, label_room = RADAR_DISC_IN, RADAR_LABELS_IN
    width, height = radar_figsize(n_m)
    top = np.nanmax(t.values) if np.isfinite(t.values).any() else 0.0
    rmax = 100.0 if top > 80 else max(10.0, math.ceil((top * 1.15) / 10) * 10)
    with rc_context():
        fig = new_figure(width, height)
        ax = fig.add_axes(((width - size) / 2 / width, (legend_h + label_room) / height, size / width, size / height),
                          projection="polar")
        ax.set_theta_offset(np.pi / 2)
        ax.set_theta_direction(-1)
        closed = np.append(angles, angles[0])
        for i in range(n_m):
            v = np.append(t.values[i], t.values[i][0])
            ax.plot(closed, v, color=color(i), lw=2, label=_label(t, i), zorder=3)  # NaN breaks the outline
            if np.isfinite(v).all():
                ax.fill(closed, v, color=color(i), alpha=0.10, zorder=2)
            ok = np.isfinite(t.values[i])
            ax.scatter(angles[ok], t.values[i][ok], color=color(i), s=14, zorder=4)
        # set_thetagrids, not set_xticks: ticks never widen the 0-360 degree view of a polar axes.
        ax.set_thetagrids(np.degrees(angles), t.families)
        ax.set_thetalim(0, 2 * np.pi)
        ax.tick_params(axis="x", pad=10, labelsize=9)
        ax.set_ylim(0, rmax)
        ticks = np.linspace(0, rmax, 5)[1:]
        ax.set_yticks(ticks, [f"{v:.0f}" for v in ticks], fontsize=7, color="#555555")
        for lbl in ax.get_yticklabels():  # keep the scale readable where an outline crosses it
            lbl.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.6})
        ax.set_rlabel_position(180.0 / max(n_f, 1))  # radial labels between the first two family axes
        ax.grid(color="#cccccc")
        fig.suptitle(f"{t.benchmark}: per-family means (×100)", fontsize=10, fontweight="bold", y=1 - 0.15 / height,
                     va="top")
        fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=min(2, n_m), fontsize=8,
                   frameon=False, bbox_to_anchor=(0.5, 0.01))
        return save_png(fig, out)
