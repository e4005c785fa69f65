"""A small UGData directory written straight to the ugdata/format.py contract, for uge unit tests.

Why not `ugdata build`: unit tests of the trainer's pieces (loss, resume, distributed) need a dataset of a
few dozen rows in well under a second; the learning test uses the real builder (ugdata.testing.small_build).
Images are 16x16 PNGs whose colour depends on the street, captions name the street and a nearby place, and
each view's ego subgraph holds its street and place nodes, so both stages have something real to learn.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd


def build_fake_ugdata(out: Path, n_views: int = 48, seed: int = 0, with_graph: bool = True,
                      missing_image: str | None = None) -> Path:
    """missing_image: an image_id whose bytes are left out (bad-input tests)."""
    import datasets
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = Path(out)
    (out / "graph").mkdir(parents=True, exist_ok=True)
    streets = [f"Street{i}" for i in range(6)]
    places = [f"Place{i}" for i in range(12)]
    nodes = []
    for i, s in enumerate(streets):
        nodes.append(dict(node_id=f"street/{i}", type="street", name=s, category="street",
                          text=f"Category: street, Name: {s}", lon=24.93 + 0.001 * i, lat=60.16, attrs="{}"))
    for j, p in enumerate(places):
        nodes.append(dict(node_id=f"poi/{j}", type="poi", name=p, category="cafe",
                          text=f"Category: cafe, Name: {p}", lon=24.93 + 0.0005 * j, lat=60.161, attrs="{}"))
    rows, edges = [], []
    for k in range(n_views):
        s, p = k % len(streets), int(rng.integers(len(places)))
        iid = f"v{k:04d}"
        lon, lat = 24.93 + 0.001 * s + rng.normal(0, 1e-4), 60.16 + rng.normal(0, 1e-4)
        nodes.append(dict(node_id=f"image/{iid}", type="image", name=iid, category="image",
                          text=f"Category: street view, Coordinates: ({lon:.5f}, {lat:.5f})", lon=lon, lat=lat, attrs="{}"))
        colour = np.array([40 * s, 255 - 40 * s, (97 * s) % 256], dtype=np.uint8)
        arr = np.clip(colour[None, None, :] + rng.integers(-20, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        rows.append(dict(
            image_id=iid, image={"bytes": buf.getvalue(), "path": None}, lat=lat, lon=lon, heading=0.0, fov_index=0,
            city="Testcity", captured_at="", synthetic=True, split="train" if k < n_views * 6 // 10 else ("val" if k < n_views * 7 // 10 else "test"),
            node_id=f"image/{iid}", street_node_id=f"street/{s}", street_name=streets[s], street_class="residential",
            snap_distance_m=3.0, street_bearing_deg=90.0, relative_heading_deg=0.0, side="left",
            caption=f"A street view on {streets[s]} near {places[p]}.",
            paths=[f"(image, nearest, {streets[s]}) (5m, N) -> (near, {places[p]}) (40m, E)"],
            graph_context=[f"image/{iid}", f"street/{s}", f"poi/{p}"],
            hard_negative_ids=[], queries={"atmosphere": f"a calm place on {streets[s]}", "activity": "",
                                           "object": "", "geography": f"near {places[p]}", "creativity": ""},
            perception={"greenery": float(s) / 6},
        ))
    df = pd.DataFrame(rows)
    if missing_image is not None:
        df["image"] = [None if i == missing_image else im for i, im in zip(df.image_id, df.image, strict=True)]
    for k in range(n_views):  # hard negatives: views on the same street (same colour), so only the place differs
        df.at[k, "hard_negative_ids"] = [f"v{(k + 6) % n_views:04d}", f"v{(k - 6) % n_views:04d}"]
    node_df = pd.DataFrame(nodes)
    node_df.insert(1, "idx", np.arange(len(node_df), dtype=np.int64))
    index = {n: i for i, n in enumerate(node_df["node_id"])}
    for r in rows:
        for other in r["graph_context"][1:]:
            edges.append((r["node_id"], other, "near"))
        edges.append((r["graph_context"][1], r["graph_context"][2], "near"))
    e = pd.DataFrame(edges, columns=["src", "dst", "rel"]).drop_duplicates(["src", "dst"])
    e.insert(2, "src_idx", e["src"].map(index).astype(np.int64))
    e.insert(3, "dst_idx", e["dst"].map(index).astype(np.int64))
    e["distance_m"] = np.float32(25.0)
    e["bearing_deg"] = np.float32(45.0)
    if not with_graph:
        df = df.drop(columns=["graph_context"])
    features = None
    dd = {}
    for split in ("train", "val", "test"):
        part = df[df["split"] == split].reset_index(drop=True)
        ds = datasets.Dataset.from_pandas(part, preserve_index=False)
        ds = ds.cast_column("image", datasets.Image())
        dd[split] = ds
        features = features or ds.features
    datasets.DatasetDict(dd).save_to_disk(str(out / "dataset"))
    node_df.to_parquet(out / "graph" / "nodes.parquet")
    e.to_parquet(out / "graph" / "edges.parquet")
    (out / "manifest.json").write_text(json.dumps({
        "format": "ugdata", "format_version": 1, "fingerprint": f"fake-{seed}-{n_views}-{int(with_graph)}",
        "counts": {"images": n_views, "nodes": len(node_df), "edges": len(e)}, "seed": seed,
    }))
    return out
