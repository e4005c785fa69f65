"""`ugdata plot`: the street graph, anchored images coloured by split, and one reasoning path, as a PNG.

Streets are drawn from the graph tables alone (end intersection -> segment midpoint -> other end), so the
plot shows exactly what the directory holds, not the OSM input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ugcore.atomic import write_bytes_atomic
from ugcore.errors import UserError
from ugdata import format as F

SPLIT_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#d62728"}


def plot_dir(path: str | Path, out: str | Path, *, city: str | None = None, path_id: str | None = None) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    d = F.load(path)  # NotUGDataError is a UserError
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must end in .png")
    nodes, edges = d.nodes, d.edges
    cities = d.manifest.get("cities") or sorted(nodes.node_id.str.split("/").str[1].unique())
    city = city or cities[0]
    if city not in cities:
        raise UserError(f"city '{city}' is not in {path}; cities: {cities}")
    prefix = f"/{city}/"
    lon = dict(zip(nodes.node_id, nodes.lon, strict=True))
    lat = dict(zip(nodes.node_id, nodes.lat, strict=True))
    con = edges[(edges.rel == "connects") & edges.src.str.contains(prefix, regex=False)]
    segs = [[(lon[s], lat[s]), (lon[t], lat[t])] for s, t in zip(con.src, con.dst, strict=True)]
    views = d.views()
    views = views[views.city == city]
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    ax.add_collection(LineCollection(segs, colors="#888888", linewidths=0.8, zorder=1))
    for split, color in SPLIT_COLORS.items():
        v = views[views.split == split]
        ax.scatter(v.lon, v.lat, s=14, c=color, label=f"{split} ({len(v)})", zorder=3, edgecolors="none")
    pois = nodes[(nodes.type == "poi") & nodes.node_id.str.contains(prefix, regex=False)]
    ax.scatter(pois.lon, pois.lat, s=3, c="#2ca02c", alpha=0.4, label=f"POIs ({len(pois)})", zorder=2)
    paths = d.paths
    paths = paths[paths.image_id.isin(set(views.image_id))]
    title = f"{city}: {len(views)} views, {len(nodes)} nodes, {len(edges)} edges"
    if len(paths):
        if path_id is not None:
            row = paths[paths.path_id == path_id]
            if row.empty:
                raise UserError(f"--path-id {path_id} not found in {path}")
            row = row.iloc[0]
        else:
            cand = paths[paths.split == "test"] if (paths.split == "test").any() else paths
            row = cand.sort_values(["hops", "total_m", "path_id"], ascending=[False, False, True]).iloc[0]
        xs = [lon[n] for n in row.node_ids]
        ys = [lat[n] for n in row.node_ids]
        ax.plot(xs, ys, "-o", color="#9467bd", lw=2.2, ms=6, zorder=4, label=f"path {row.path_id}")
        ax.annotate("start", (xs[0], ys[0]), xytext=(5, 5), textcoords="offset points", fontsize=8)
        wrapped = "\n".join(row.text[i:i + 110] for i in range(0, min(len(row.text), 440), 110))
        title += "\n" + wrapped
    ax.set_title(title, fontsize=7, loc="left")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1.0 / np.cos(np.radians(float(views.lat.mean()) if len(views) else 0.0)))
    ax.legend(loc="lower right", fontsize=7)
    ax.text(0.01, 0.01, "© OpenStreetMap contributors", transform=ax.transAxes, fontsize=7)
    ax.autoscale_view()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(out, buf.getvalue())
    return out
