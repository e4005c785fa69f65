"""End-to-end checks of a real small Helsinki build: layout, integrity, readers, graph forms."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import ugdata
from ugdata import format as F
from ugdata.check import check_dir


def test_check_passes_and_counts(small_dir):
    problems, notes = check_dir(small_dir)
    assert problems == []
    d = ugdata.load(small_dir)
    m = d.manifest
    assert m["counts"]["images"] == 120 and m["synthetic"] is True
    assert set(m["splits"]) == set(F.SPLITS) and all(n > 0 for n in m["splits"].values())
    assert sum(m["splits"].values()) == 120
    assert m["inputs"][0]["sha256"] and len(m["inputs"][0]["sha256"]) == 64
    assert {"street", "intersection", "poi", "area", "image"} <= set(m["counts"]["node_types"])
    assert {"connects", "on_same_street", "intersection", "nearest", "near", "inside", "bounds"} <= set(
        m["counts"]["relations"])


def test_views_columns_and_images(small_dir):
    d = ugdata.load(small_dir)
    v = d.views()
    assert set(F.VIEW_COLUMNS) - {"image"} <= set(v.columns)
    assert v.image_id.is_unique
    # 4 headings per point: front/right/back/left relative to the street
    assert sorted(v.fov_index.unique().tolist()) == [0, 1, 2, 3]
    rel = v.relative_heading_deg.to_numpy()
    assert np.allclose(np.minimum(rel % 90, 90 - rel % 90), 0, atol=1e-3)
    assert (v.snap_distance_m <= 25).all() and set(v.side) <= {"left", "right"}
    img = d.image(v.image_id.iloc[0])
    assert img.size == (96, 96)
    # same point, different heading -> different pixels (the renderer sees the heading)
    p0 = v[v.image_id.str.startswith(v.image_id.iloc[0].rsplit("-", 1)[0])]
    assert len(p0) == 4
    arrs = [np.asarray(d.image(i)) for i in p0.image_id]
    assert not np.array_equal(arrs[0], arrs[2])
    # the self-contained Parquet copy holds the same rows with embedded bytes
    pq = pd.read_parquet(small_dir / "parquet" / "test.parquet")
    assert len(pq) == (v.split == "test").sum() and pq.image.iloc[0]["bytes"][:3] == b"\xff\xd8\xff"  # JPEG
    card = (small_dir / "README.md").read_text()
    assert "© OpenStreetMap contributors" in card and "synthetic" in card.lower()


def test_struct_columns(small_dir):
    v = ugdata.load(small_dir).views()
    row = v.iloc[0]
    assert set(row.queries) == {"atmosphere", "activity", "object", "geography", "creativity"}
    assert all(isinstance(x, str) and x for x in row.queries.values())
    assert all(0.0 <= float(x) <= 1.0 for x in row.perception.values())
    assert all(len(c) <= 64 and c[0] == f"image/{i}" for i, c in zip(v.image_id, v.graph_context, strict=True))
    # hard negatives are other places nearby (never the same point)
    for i, negs in zip(v.image_id, v.hard_negative_ids, strict=True):
        base = i.rsplit("-", 1)[0]
        assert all(not n.startswith(base + "-") for n in negs)


def test_node_text_and_edges_geometry(small_dir):
    from haversine import Unit, haversine

    d = ugdata.load(small_dir)
    nodes, edges = d.nodes, d.edges
    assert nodes.text.str.match(r"^Category: .+, Name: .+, Area: .+, Coordinates: \(-?\d+\.\d+, -?\d+\.\d+\)$").all()
    sample = edges.sample(200, random_state=0)
    for r in sample.itertuples():
        a, b = nodes.iloc[r.src_idx], nodes.iloc[r.dst_idx]
        assert a.node_id == r.src and b.node_id == r.dst
        assert abs(haversine((a.lat, a.lon), (b.lat, b.lon), unit=Unit.METERS) - r.distance_m) < 0.05
    near = edges[edges.rel == "nearest"]
    assert (near.distance_m <= 300).all()


def test_graphml_and_pyg(small_dir):
    import torch

    d = ugdata.load(small_dir)
    g = nx.read_graphml(small_dir / F.GRAPHML)
    assert g.number_of_nodes() == len(d.nodes)
    assert g.number_of_edges() == len(d.edges)
    data = torch.load(small_dir / F.PYG, weights_only=False)
    assert data.num_nodes == len(d.nodes)
    assert data.edge_index.shape == (2, len(d.edges))
    assert data.edge_attr.shape == (len(d.edges), 5)
    assert data.node_ids == d.nodes.node_id.tolist()
    assert torch.equal(data.edge_index[0], torch.tensor(d.edges.src_idx.to_numpy()))
    np.testing.assert_allclose(data.edge_attr[:, 0].numpy(), np.log1p(d.edges.distance_m.to_numpy()), rtol=1e-5)
    assert [data.rel_names[i] for i in data.edge_type[:50].tolist()] == d.edges.rel.iloc[:50].tolist()


def test_tasks_contract(small_dir):
    """Every registered task builder wrote its task (or the manifest says why not); task.json holds data facts
    only (scoring facts live in the ugbench task); probe tasks hold targets, ranking tasks queries + corpus."""
    from ugdata.tasks.registry import task_builders

    d = ugdata.load(small_dir)
    names = d.task_names()
    omitted = d.manifest.get("omitted_tasks", {})
    assert set(names) | set(omitted) == set(task_builders())
    for n in names:
        spec = d.task_spec(n)
        assert spec.instructions and spec.splits
        assert not ({"family", "main_score", "protocol", "metrics"} & set(json.loads(spec.to_json())) |
                    {"metrics"} & set(spec.extra)), f"{n}: task.json holds scoring facts"
        if (d.root / "tasks" / n / "targets.parquet").is_file():
            t = d.task_table(n, "targets")
            declared = spec.extra.get("attributes") or spec.extra["targets"]["classification"]
            assert set(declared) <= set(t.columns) and t.fold.between(0, 4).all()
            if "attributes" in spec.extra:  # pairwise perception (Place-Pulse style)
                p = d.task_table(n, "pairs")
                assert set(p.label.unique()) <= {0.0, 1.0}
            continue
        q, c = d.task_table(n, "queries"), d.task_table(n, "corpus")
        assert set(F.QUERY_COLUMNS) <= set(q.columns) and set(F.CORPUS_COLUMNS) <= set(c.columns)
        assert len(q) > 0
        local = q.candidate_ids.map(len) > 0
        assert all(set(p) <= set(cs) and len(cs) >= 2
                   for p, cs in zip(q.positive_ids[local], q.candidate_ids[local], strict=True))


def test_geoloc_candidates_are_near_but_wrong(small_dir):
    from haversine import Unit, haversine

    d = ugdata.load(small_dir)
    q, c = d.task_table("geoloc_rank", "queries"), d.task_table("geoloc_rank", "corpus").set_index("doc_id")
    dists = []
    for r in q.itertuples():
        for cid in r.candidate_ids:
            if cid in r.positive_ids:
                continue
            dd = haversine((r.lat, r.lon), (c.at[cid, "lat"], c.at[cid, "lon"]), unit=Unit.METERS)
            assert dd >= 24.9
            dists.append(dd)
    assert np.median(dists) < 600  # spatially near: a few blocks, not across the city


def test_manifest_is_json_and_fingerprint_detects_tampering(small_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_dir, copy)
    assert check_dir(copy)[0] == []
    p = copy / F.TASKS_DIR / "geoloc_rank" / "task.json"
    spec = json.loads(p.read_text())
    spec["main_score"] = "hit@1"
    p.write_text(json.dumps(spec))
    problems, _ = check_dir(copy)
    assert any("fingerprint mismatch" in x for x in problems)


@pytest.mark.parametrize("bad", ["edge", "leak"])
def test_check_catches_broken_graph_and_leakage(small_dir, tmp_path, bad):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_dir, copy)
    if bad == "edge":
        e = pd.read_parquet(copy / F.EDGES)
        e.loc[0, "dst"] = "poi/nowhere/1"
        e.to_parquet(copy / F.EDGES)
        assert any("unknown nodes" in x for x in check_dir(copy)[0])
    else:
        # a huge buffer: blocks touch, so views of different splits are within it
        assert any("spatial leakage" in x for x in check_dir(copy, buffer_m=400)[0])
