"""Write a UGData directory (see ugdata/format.py) deterministically, and fingerprint it.

Determinism: every table is written with fixed row order and explicit schemas, the HF dataset gets a
content-derived `_fingerprint` instead of a random one, and the manifest (which holds the time of the
build) is the one file left out of the fingerprint. So the same inputs and seed give the same fingerprint.
The fingerprint (ugdata/fingerprint.py) hashes each file's content, not the writer's bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ugdata import format as F
from ugdata.semantics import PERCEPTION_KEYS, QUERY_TYPES


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """Turn `datasets`' own tqdm bars ("Saving the dataset (0/1 shards)") off for the block.

    `ugdata build` shows its own rich progress, and datasets' bars printed between its lines (and through
    every test that writes a dataset). Scoped rather than global, so a program that imports ugdata keeps
    its own datasets settings; bars that were already off stay off.
    """
    import datasets as hd

    was_disabled = hd.are_progress_bars_disabled()
    hd.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            hd.enable_progress_bars()


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path, compression="zstd", compression_level=1, write_statistics=False)


def view_features(licensed: bool = False):
    """The dataset's Features; with `licensed`, the per-image licence columns (F.VIEW_LICENSE_COLUMNS) last."""
    import datasets as hd

    feats = _base_view_features()
    if licensed:
        for k in F.VIEW_LICENSE_COLUMNS:
            feats[k] = hd.Value("string")
    return feats


def _base_view_features():
    import datasets as hd

    return hd.Features({
        "image_id": hd.Value("string"),
        "image": hd.Image(),
        "lat": hd.Value("float64"),
        "lon": hd.Value("float64"),
        "heading": hd.Value("float32"),
        "fov_index": hd.Value("int8"),
        "city": hd.Value("string"),
        "captured_at": hd.Value("string"),
        "synthetic": hd.Value("bool"),
        "split": hd.Value("string"),
        "node_id": hd.Value("string"),
        "street_node_id": hd.Value("string"),
        "street_name": hd.Value("string"),
        "street_class": hd.Value("string"),
        "snap_distance_m": hd.Value("float32"),
        "street_bearing_deg": hd.Value("float32"),
        "relative_heading_deg": hd.Value("float32"),
        "side": hd.Value("string"),
        "caption": hd.Value("string"),
        "paths": hd.List(hd.Value("string")),
        "graph_context": hd.List(hd.Value("string")),
        "hard_negative_ids": hd.List(hd.Value("string")),
        "queries": {k: hd.Value("string") for k in QUERY_TYPES},
        "perception": {k: hd.Value("float32") for k in PERCEPTION_KEYS},
    })


def write_dataset(root: Path, views: pd.DataFrame, image_bytes: dict[str, bytes | None]) -> dict[str, int]:
    import datasets as hd

    # licence columns only for real views (a synthetic build's schema, and so its fingerprint, stays as it was)
    licensed = "license" in views.columns
    feats = view_features(licensed)
    cols = list(F.VIEW_COLUMNS) + (list(F.VIEW_LICENSE_COLUMNS) if licensed else [])
    dd = {}
    for split in F.SPLITS:
        part = views[views.split == split].sort_values("image_id", kind="stable")
        data = {c: part[c].tolist() for c in cols if c != "image"}
        for c in F.VIEW_LICENSE_COLUMNS if licensed else ():
            data[c] = [v if isinstance(v, str) and v.strip() else None for v in data[c]]
        data["image"] = [{"bytes": image_bytes.get(i), "path": None} if image_bytes.get(i) is not None else None
                         for i in part.image_id.tolist()]
        # pyarrow converts the Python values straight to the Features' Arrow schema (datasets' own
        # encode_batch walks every nested value in Python and costs seconds per 10k rows)
        arrow = pa.Table.from_pydict({c: data[c] for c in cols}, schema=feats.arrow_schema)
        fp = hashlib.blake2b(f"{split}|{len(part)}|{'|'.join(part.image_id)}".encode(), digest_size=8).hexdigest()
        dd[split] = hd.Dataset(arrow, info=hd.DatasetInfo(features=feats), split=split, fingerprint=fp)
    ds = hd.DatasetDict(dd)
    with quiet_datasets():
        ds.save_to_disk(str(root / F.DATASET_DIR))
    (root / F.PARQUET_DIR).mkdir(parents=True, exist_ok=True)
    for split, d in ds.items():
        pq.write_table(d.data.table, root / F.PARQUET_DIR / f"{split}.parquet", compression="zstd",
                       compression_level=1, write_statistics=False)
    return {s: len(d) for s, d in ds.items()}


def write_graphml(root: Path, nodes: pd.DataFrame, edges: pd.DataFrame) -> None:
    """GraphML written directly (column-wise string building, escaped) rather than through networkx, which
    builds the whole XML tree in memory and takes minutes on a 100k-node city; the output is standard
    GraphML either way (tests read it back with networkx.read_graphml)."""
    path = root / F.GRAPHML
    path.parent.mkdir(parents=True, exist_ok=True)
    table = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})

    def esc(values) -> list[str]:
        # escaping only the values that need it: most ids and names hold none of & < > "
        return [v.translate(table) if ("&" in v or "<" in v or ">" in v or '"' in v) else v
                for v in map(str, values)]

    nkeys = [("type", "string"), ("name", "string"), ("category", "string"), ("text", "string"),
             ("lon", "double"), ("lat", "double"), ("attrs", "string")]
    ekeys = [("rel", "string"), ("distance_m", "double"), ("bearing_deg", "double")]
    head = ['<?xml version="1.0" encoding="UTF-8"?>', '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">']
    head += [f'<key id="n_{k}" for="node" attr.name="{k}" attr.type="{t}"/>' for k, t in nkeys]
    head += [f'<key id="e_{k}" for="edge" attr.name="{k}" attr.type="{t}"/>' for k, t in ekeys]
    head.append('<graph id="ugdata" edgedefault="directed">')
    cols = [esc(nodes[k].tolist()) if t == "string" else [repr(float(x)) for x in nodes[k].tolist()]
            for k, t in nkeys]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(head) + "\n")
        for i, nid in enumerate(esc(nodes.node_id.tolist())):
            fh.write(f'<node id="{nid}">' + "".join(f'<data key="n_{k}">{c[i]}</data>' for (k, _), c in zip(nkeys, cols, strict=True))
                     + "</node>\n")
        s, d = esc(edges.src.tolist()), esc(edges.dst.tolist())
        rel = edges.rel.tolist()
        dist, bear = edges.distance_m.astype(float).tolist(), edges.bearing_deg.astype(float).tolist()
        fh.writelines(f'<edge source="{a}" target="{b}"><data key="e_rel">{r}</data><data key="e_distance_m">'
                      f'{x!r}</data><data key="e_bearing_deg">{y!r}</data></edge>\n'
                      for a, b, r, x, y in zip(s, d, rel, dist, bear, strict=True))
        fh.write("</graph>\n</graphml>\n")


def write_pyg(root: Path, nodes: pd.DataFrame, edges: pd.DataFrame) -> None:
    """graph/pyg.pt: torch_geometric.data.Data with
    edge_index [2, E] (rows of edges.parquet, src -> dst), edge_type [E] (index into .rel_names),
    edge_attr [E, 5] = [log1p(distance_m), sin(bearing), cos(bearing), dlat, dlon] (dlat/dlon in degrees,
    dst minus src), node_type [N] (index into .node_type_names), pos [N, 2] = (lon, lat),
    node_ids (list[str], row order == nodes.parquet), rel_names, node_type_names. No `x`: node features are
    the node texts in nodes.parquet, which a graph encoder embeds itself (UGE: LLM token embeddings)."""
    import torch
    from torch_geometric.data import Data

    from ugdata.graph import NODE_TYPES

    rel_names = sorted(edges.rel.unique().tolist())
    rel_code = {r: i for i, r in enumerate(rel_names)}
    s = edges.src_idx.to_numpy()
    d = edges.dst_idx.to_numpy()
    b = np.radians(edges.bearing_deg.to_numpy(dtype=np.float64))
    lat, lon = nodes.lat.to_numpy(), nodes.lon.to_numpy()
    attr = np.column_stack([np.log1p(edges.distance_m.to_numpy(dtype=np.float64)), np.sin(b), np.cos(b),
                            lat[d] - lat[s], lon[d] - lon[s]]).astype(np.float32)
    type_code = {t: i for i, t in enumerate(NODE_TYPES)}
    data = Data(
        edge_index=torch.from_numpy(np.stack([s, d]).astype(np.int64)),
        edge_type=torch.from_numpy(edges.rel.map(rel_code).to_numpy(np.int64).copy()),
        edge_attr=torch.from_numpy(attr),
        node_type=torch.from_numpy(nodes.type.map(type_code).to_numpy(np.int64).copy()),
        pos=torch.from_numpy(np.column_stack([lon, lat]).astype(np.float64)),
        num_nodes=len(nodes),
    )
    data.node_ids = nodes.node_id.tolist()
    data.rel_names = rel_names
    data.node_type_names = list(NODE_TYPES)
    path = root / F.PYG
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)


def _holdout_text(held) -> str:
    """The card's held-out-city clause: one name prints as it always did (old cards keep their bytes)."""
    if not held:
        return ""
    names = [held] if isinstance(held, str) else list(held)
    return f"; held-out city: {names[0]}" if len(names) == 1 else f"; held-out cities: {', '.join(names)}"


def dataset_card(manifest: dict, synthetic: bool) -> str:
    c = manifest["counts"]
    cities = ", ".join(i.get("city", "?") for i in manifest["inputs"]) or "?"
    lines = [
        "---",
        "license: odbl",
        "tags: [urban, street-view, openstreetmap, spatial-graph, ugdata]",
        "---",
        "",
        f"# UGData: {cities}",
        "",
        "Street views anchored to a heterogeneous OpenStreetMap spatial graph (streets, intersections, POIs, "
        "areas, images), with spatial-context captions, spatial reasoning paths, street-network routes, "
        "spatially blocked splits and UGBench task data. Built by `ugdata build` (urban-graph-embeddings).",
        "",
    ]
    if synthetic:
        lines += [
            "## Synthetic images",
            "",
            "**The images in this dataset are synthetic.** They are rendered, not photographed: each picture is a "
            "deterministic function of the real OpenStreetMap context at its point and heading (road class, width "
            "and lanes, buildings, POI categories as storefront signs, greenery, water, heading). They carry real "
            "spatial signal but are not photographs of the places.",
            "",
        ]
    lines += [
        "## Contents",
        "",
        f"- images: {c['images']} ({', '.join(f'{k} {v}' for k, v in manifest['splits'].items())})",
        f"- graph: {c['nodes']} nodes, {c['edges']} edges; reasoning paths: {c['paths']}; routes: {c['routes']}",
        f"- rejected input rows: {c['rejected']} (see rejects.csv for each reason)",
        f"- tasks: {', '.join(sorted(manifest.get('tasks', {})))}",
        "- perception values are OSM-derived PROXIES (greenery, commercial density, street size, building "
        "density, ...), not human judgements.",
        "- splits are spatially blocked (blocks of "
        f"{manifest['config'].get('block_m')} m, buffer {manifest['config'].get('buffer_m')} m)"
        + _holdout_text(manifest["config"].get("holdout_city")),
        "",
        "## Sources and licence",
        "",
        "Map data © OpenStreetMap contributors, available under the Open Database License (ODbL 1.0): "
        "https://www.openstreetmap.org/copyright. This dataset is a derived database and is released under the "
        "ODbL as well.",
        "",
    ]
    for i in manifest["inputs"]:
        # the file name only: the card is part of the fingerprint, which must not depend on where the file lies
        src = Path(i["path"]).name if i.get("path") and not str(i.get("source", "")).startswith("embedded") else i.get("source")
        lines.append(f"- {i.get('city') or i.get('source')}: {src}" + (f" (sha256 {i['sha256'][:16]}...)" if i.get("sha256") else "")
                     + (f"; {i['attribution']}" if i.get("attribution") else ""))
    if not synthetic and manifest.get("image_sources"):
        # real street views only: a synthetic build's card (part of its pinned fingerprint) already says what its
        # images are, in the "Synthetic images" section above
        from ugdata.licenses import card_lines

        lines += ["", *card_lines(manifest["image_sources"])[:-1]]
    # the fingerprint itself lives in manifest.json (the card is part of what it hashes)
    lines += ["", f"Seed {manifest['seed']}; fingerprint and provenance in manifest.json.", ""]
    return "\n".join(lines)
