"""MTEB-style grid: tiny mock tasks (ugdata.format contract) x every adapter, through ugbench.evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ugbench.evaluation import evaluate
from ugbench.results_schema import TaskResult

BASE_TASKS = ["geoloc_rank", "retrieval_caption2image", "retrieval_path2image", "retrieval_image2image",
              "perception_osm", "grounding_nearest_poi", "grounding_distance_direction"]


def _run(model, data, out, tasks=BASE_TASKS, **kw):
    from rich.console import Console

    return evaluate(model, data, tasks=tasks, output=out, cache_dir=kw.pop("cache_dir", None),
                    show_progress=False, console=Console(quiet=True), **kw)


def _check(results, data, out_dir):
    manifest = json.loads((data / "manifest.json").read_text())
    for doc in results:
        r = TaskResult.model_validate(doc)
        path = out_dir / f"{r.task.name}.json"
        assert json.loads(path.read_text()) == doc
        assert r.provenance.dataset_fingerprint == manifest["fingerprint"]
        assert r.instructions and set(r.instructions) <= {"query", "document"}
        for split, sc in r.scores.items():
            assert split in ("val", "test")
            assert np.isfinite(sc["main_score"])
            if r.task.family == "perception":
                assert -1 <= sc["spearman"] <= 1
                assert 0 <= sc["pairwise_accuracy"] <= 1
            else:
                hits = [sc[f"hit@{k}"] for k in (1, 3, 5, 10)]
                assert all(0 <= h <= 1 for h in hits) and hits == sorted(hits)
                assert 0 < sc["mrr"] <= 1 and 0 <= sc["ndcg@10"] <= 1
    summary = json.loads((out_dir / "summary.json").read_text())
    assert {r["task"] for r in summary["results"]} >= {d["task"]["name"] for d in results}


@pytest.mark.parametrize("model", [
    "random", "bm25", "geo-prior", "minilm", "tiny-clip", "tiny-siglip", "custom-factory", "custom-class",
    "custom-object", "checkpoint",
])
def test_grid(model, mock_data, tmp_path, request, custom_module):
    spec = {
        "tiny-clip": lambda: str(request.getfixturevalue("tiny_clip")),
        "tiny-siglip": lambda: str(request.getfixturevalue("tiny_siglip")),
        "custom-factory": lambda: f"{custom_module}:make_model",
        "custom-class": lambda: f"{custom_module}:HashModel",
        "custom-object": lambda: f"{custom_module}:instance",
        "checkpoint": lambda: str(request.getfixturevalue("checkpoint_dir")),
    }.get(model, lambda: model)()
    results = _run(spec, mock_data, tmp_path / "out")
    assert [r["task"]["name"] for r in results] == BASE_TASKS
    slug = results[0]["model"]["name"].replace("/", "__")
    _check(results, mock_data, tmp_path / "out" / slug)
    if model in ("minilm", "bm25", "custom-factory"):
        # the mock's fusion queries share words with the right location description (the real builder's never
        # do): text models must read the query text and beat chance
        (geo,) = _run(spec, mock_data, tmp_path / "fusion", tasks=["geoloc_rank_fusion"])
        assert min(s["hit@1"] for s in geo["scores"].values()) > 0.5
    if model == "checkpoint":
        assert results[0]["model"]["name"] == "tiny-ckpt"


def test_all_tasks_and_variants(mock_data, tmp_path):
    results = _run("random", mock_data, tmp_path / "out", tasks="all")
    names = {r["task"]["name"] for r in results}
    assert {"geoloc_rank_graph", "retrieval_image2image_global", "retrieval_caption2image_global_graph",
            "perception_osm_graph", "grounding_nearest_poi_graph", "geoloc_rank_fusion", "geoloc_rank_text_graph",
            "retrieval_caption2image_fusion_graph"} <= names
    _check(results, mock_data, tmp_path / "out" / "random")
    by = {r["task"]["name"]: r for r in results}
    g = by["retrieval_image2image_global"]
    assert g["task"]["protocol"] == "global" and g["scores"]["test"]["n_documents"] == 32
    by_qtype = by["retrieval_path2image"]["scores"]["test"]["by_qtype"]
    assert by_qtype.keys() == {"path1", "path2"}
    n = {t: v["n_queries"] for t, v in by_qtype.items()} if "n_queries" in by_qtype["path1"] else None
    assert n is None or sum(n.values()) == by["retrieval_path2image"]["scores"]["test"]["n_queries"]


class GraphSpy:
    """Records what the harness passes: graph context only in _graph variants, never a query location."""

    def __init__(self):
        from ugcore.protocol import ModelMeta

        self.meta = ModelMeta(name="graph-spy", embed_dim=4, modalities=["text", "image", "graph"])
        self.seen: list = []

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        self.seen += [(task_name, side, it) for it in items]
        return np.random.default_rng(len(self.seen)).standard_normal((len(items), 4))


def test_graph_context_and_locations(mock_data, tmp_path):
    spy = GraphSpy()
    _run(spy, mock_data, tmp_path / "out", tasks=["geoloc_rank", "geoloc_rank_graph"], cache_dir=None)
    plain = [it for t, s, it in spy.seen if t == "geoloc_rank"]
    graph = [(s, it) for t, s, it in spy.seen if t == "geoloc_rank_graph"]
    assert all(it.graph is None for it in plain)
    q = [it for s, it in graph if s == "query"]
    assert all(it.graph is not None and it.graph.center.startswith("image/") for it in q)
    assert all(it.graph.data_dir == str(mock_data) for it in q)
    assert all(it.lat is None for _, s, it in spy.seen if s == "query")  # the answer is never shown
    assert all(it.lat is not None for s, it in graph if s == "document")  # locations may see their coords
    assert all(it.image is not None for it in q)


@pytest.mark.parametrize("model,task", [("random", "geoloc_rank"), ("random", "retrieval_image2image"),
                                        ("random", "grounding_nearest_poi"), ("bm25", "retrieval_image2image")])
def test_chance_level(model, task, chance_data, tmp_path):
    """Random embeddings, and a text model on image-only items (all-zero vectors, tie rule), score at chance:
    Hit@1 ~ 1/10 over 200 queries (standard error 0.021; tolerance 3 standard errors = 0.065)."""
    (r,) = _run(model, chance_data, tmp_path / "out", tasks=[task])
    sc = r["scores"]
    hit1 = np.average([s["hit@1"] for s in sc.values()], weights=[s["n_queries"] for s in sc.values()])
    assert sum(s["n_queries"] for s in sc.values()) == 200
    assert abs(hit1 - 0.1) < 0.065, hit1


def test_evaluating_twice_gives_identical_scores(mock_data, tmp_path, custom_module):
    spec = f"{custom_module}:make_model"
    a = _run(spec, mock_data, tmp_path / "a", tasks=["retrieval_image2image_global", "perception_osm"])
    b = _run(spec, mock_data, tmp_path / "b", tasks=["retrieval_image2image_global", "perception_osm"],
             cache_dir=tmp_path / "cache")
    c = _run(spec, mock_data, tmp_path / "c", tasks=["retrieval_image2image_global", "perception_osm"],
             cache_dir=tmp_path / "cache")  # from the cache this time
    assert [x["scores"] for x in a] == [x["scores"] for x in b] == [x["scores"] for x in c]
