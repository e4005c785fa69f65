"""Shared figure plumbing: a pyplot-free Agg figure, one palette, and deterministic atomic PNG output.

Why no pyplot: pyplot keeps global state (the backend, a registry of open figures), so a library call
would change its caller's matplotlib setup and leak figures on an exception. A bare `Figure` rendered by
`FigureCanvasAgg` has neither problem and needs no `matplotlib.use("Agg")`.

Why the metadata: matplotlib stamps PNGs with its version ("Software"); dropping it makes the same inputs
give the same bytes on every machine and matplotlib release that draws the same pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

from ugcore.atomic import write_bytes_atomic
from ugcore.errors import UserError

DPI = 100
# tab10 without its grey (kept for "not available") so models never get the grey of missing values.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
HIT = "#2ca02c"
MISS = "#d62728"
MISSING = "#7f7f7f"
RC = {
    "font.family": "DejaVu Sans",  # bundled with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "ugbench",
}


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def check_png_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"output {out} must end in .png")
    if out.is_dir():
        raise UserError(f"output {out} is a folder; pass a .png file path")
    return out


def new_figure(width_in: float, height_in: float):
    """A Figure with an Agg canvas attached (so text extents can be measured before saving)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, out: str | Path) -> Path:
    """Render `fig` at its own size (no bbox cropping: the pixel size is figsize x DPI) and write atomically."""
    out = check_png_path(out)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    write_bytes_atomic(out, buf.getvalue())
    return out


def rc_context():
    """The house style, scoped to one figure (the caller's rcParams are restored afterwards)."""
    import matplotlib

    return matplotlib.rc_context(RC)
