"""The city map (street graph, anchored views by split, one reasoning path), drawn by ugdata's own plot.

One implementation: this delegates to `ugdata.plot.plot_dir` (what `ugdata plot` runs), so the map in a
figure set and the map a data engineer checks are the same picture.
"""

from __future__ import annotations

from pathlib import Path

from .render import check_png_path


def map_figure(data_dir: str | Path, out: str | Path, *, city: str | None = None, path_id: str | None = None) -> Path:
    """Draw the map of a UGData directory to `out` (PNG); see ugdata.plot.plot_dir for what it shows."""
    from ugdata.plot import plot_dir

    return Path(plot_dir(data_dir, check_png_path(out), city=city, path_id=path_id))
