"""graph_mode: the same stage-2 checkpoint scored with its graph soft tokens zeroed or fed another place's graph.

These probes carry claim (b) of benchmarks/uge_learning.py ("the gain comes from the graph"), so they must do
exactly what they say: zero mode ignores the graph's content (but not its token count), other mode is the real
model given the partner place's context, and the partner is a different place of the same city, far away."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import standin_config

import ugdata
from ugbench.models.registry import load_model
from ugcore.errors import UserError
from ugcore.protocol import EncodeItem, GraphContext
from uge.config import config_from_dict
from uge.other_place import OtherPlaceGraphs
from uge.train import Trainer


@pytest.fixture(scope="module")
def stage2_ckpt(fake_data, tmp_path_factory):
    raw = standin_config(fake_data, tmp_path_factory.mktemp("gm") / "run",
                         train={"max_steps": 2, "stage": 2, "stage2_only": True})
    raw["backbone"] = {"name_or_path": "tiny-qwen2-vl", "gradient_checkpointing": False, "max_length": 32}
    return str(Trainer(config_from_dict(raw)).run())


def _items(data_dir, views, image_of=None):
    d = ugdata.load(data_dir)
    return [EncodeItem(image=d.image((image_of or {}).get(r.image_id, r.image_id)),
                       graph=GraphContext(str(data_dir), tuple(r.graph_context))) for r in views.itertuples()]


def _enc(model, items):
    return model.encode(items, task_name="t", side="query", instruction="Where is this?", batch_size=4)


def test_zero_and_other_modes_through_ugbench(stage2_ckpt, fake_data):
    d = ugdata.load(fake_data)
    views = d.views("test").iloc[:4]
    real = load_model(stage2_ckpt, device="cpu")
    zero = load_model(stage2_ckpt, device="cpu", graph_mode="zero")
    other = load_model(stage2_ckpt, device="cpu", graph_mode="other")
    # distinct names and revisions: an embedding cache keyed by model never mixes the modes
    assert len({real.meta.name, zero.meta.name, other.meta.name}) == 3
    assert len({real.meta.revision, zero.meta.revision, other.meta.revision}) == 3
    assert zero.meta.extra["graph_mode"] == "zero"

    items = _items(fake_data, views)
    # every item given the same image: only the graph context differs between rows
    same_image = [EncodeItem(image=items[0].image, graph=it.graph) for it in items]
    r, z = _enc(real, same_image), _enc(zero, same_image)
    assert not np.allclose(r[0], r[1], atol=1e-4)  # the real graph changes the embedding ...
    # ... zeroed tokens do not: contexts of equal size give identical embeddings whatever their nodes
    sizes = [len(it.graph.node_ids) for it in same_image]
    assert sizes[0] == sizes[1]
    np.testing.assert_allclose(z[0], z[1], atol=1e-6)
    assert not np.allclose(z[0], r[0], atol=1e-4)

    # other mode = the real model given the partner place's context (and the item's own image)
    o = _enc(other, items)
    swap = other._other_place(str(fake_data))
    swapped = [EncodeItem(image=it.image, graph=GraphContext(str(fake_data), tuple(swap.swap(it.graph.node_ids))))
               for it in items]
    np.testing.assert_allclose(o, _enc(real, swapped), atol=1e-5)
    assert all(s.graph.node_ids != it.graph.node_ids for s, it in zip(swapped, items, strict=True))


def test_bad_graph_mode_options(stage2_ckpt):
    with pytest.raises(UserError, match="graph_mode must be one of"):
        load_model(stage2_ckpt, device="cpu", graph_mode="shuffled")
    with pytest.raises(UserError, match="takes no model option colour"):
        load_model(stage2_ckpt, device="cpu", colour="red")


def _views(rows):
    return pd.DataFrame(rows, columns=["image_id", "city", "lon", "lat", "graph_context"])


def test_other_place_pairs_far_places_of_the_same_city():
    rows = []
    for city, lon0 in (("a", 10.0), ("b", -70.0)):
        for i in range(6):
            for h in ("f", "b"):  # two headings of one place share its coordinates
                iid = f"{city}{i}{h}"
                rows.append((iid, city, lon0 + 0.002 * i, 50.0, [f"image/{iid}", f"street/{city}{i}"]))
    g = OtherPlaceGraphs.from_views(_views(rows))
    assert len(g.contexts) == 12
    assert not np.any(g.partner == np.arange(12))  # a derangement: no place keeps its own graph
    for k, c in enumerate(g.contexts):
        assert c[1][7] == g.contexts[g.partner[k]][1][7]  # the partner is in the same city
    assert g.distances_m().min() > 3 * 0.002 * 111_000 * np.cos(np.radians(50)) * 0.99  # half the city away
    # both headings of a place get the same partner (the context of its smallest image_id)
    assert g.swap(["image/a0f"]) == g.swap(["image/a0b"]) == ["image/a3b", "street/a3"]
    assert g.swap(["image/b5f", "street/b5"]) == ["image/b2b", "street/b2"]
    # a context centred on a street or POI node (a geolocation candidate) is that node: kept
    assert g.swap(["street/b0"]) == ["street/b0"] and g.swap(["poi/x", "street/b0"]) == ["poi/x", "street/b0"]
    # deterministic: the row order of the views table does not matter
    shuffled = _views(rows).sample(frac=1.0, random_state=3)
    h = OtherPlaceGraphs.from_views(shuffled)
    assert h.contexts == g.contexts and np.array_equal(h.partner, g.partner)


def test_other_place_needs_two_places_per_city():
    from ugcore.errors import DataError

    rows = [("a0", "a", 10.0, 50.0, ["image/a0"]), ("b0", "b", 11.0, 50.0, ["image/b0"]),
            ("b1", "b", 11.1, 50.0, ["image/b1"])]
    with pytest.raises(DataError, match="city 'a'"):
        OtherPlaceGraphs.from_views(_views(rows))
