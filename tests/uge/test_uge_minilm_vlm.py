"""MiniLM-VLM goes through the same trainer as every family: stage 1 then stage 2 (graph soft tokens, GradCache,
sentence-embedding node features), exact resume, and checkpoints that ugbench loads (mean pooling declared).

Few steps on the 48-view hand-made set: these are code-path checks; tests/uge/test_uge_learning.py checks that
it learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import standin_config
from safetensors.torch import load_file

import ugdata
from ugbench.models.registry import load_model
from ugcore.protocol import EncodeItem, GraphContext
from uge.config import config_from_dict
from uge.embedder import UGEEmbedder
from uge.train import SimulatedKill, Trainer, train

BACKBONE = {"name_or_path": "minilm-vlm", "gradient_checkpointing": False, "max_length": 48}
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["query", "key", "value", "dense"]}


def _cfg(data, out, **sections):
    raw = standin_config(data, out, **sections)
    raw["backbone"] = dict(BACKBONE)
    raw["lora"] = dict(LORA)
    raw["graph"] = {"hidden_dim": 32, "edge_dim": 8, "max_nodes": 6, "dropout": 0.0}
    return raw


def test_stage1_and_stage2_checkpoints_load_through_ugbench(fake_data, tmp_path):
    s1 = train(config_from_dict(_cfg(fake_data, tmp_path / "s1", train={"max_steps": 2},
                                     optim={"lr": 1e-3, "vision_lr": 3e-3})))
    adapter = load_file(str(s1 / "adapter" / "adapter_model.safetensors"))
    assert any("vision_tower" in k for k in adapter) and any("multi_modal_projector" in k for k in adapter)
    assert any("lora_" in k and "language_model" in k for k in adapter)
    raw2 = _cfg(fake_data, tmp_path / "s2", train={"max_steps": 2, "stage": 2, "init_adapter": str(s1),
                                                   "gradcache_chunk_size": 5})
    trainer = Trainer(config_from_dict(raw2))
    final = trainer.run()
    meta = json.loads((final / "ugbench_model.json").read_text())
    assert meta["pooling"] == "mean" and meta["embed_dim"] == 384 and "graph" in meta["modalities"]
    # node text features are the frozen MiniLM's sentence embeddings (not the input-token means)
    store = trainer.model.graph_store
    feats = trainer.model.node_text_features(torch.arange(2))
    expect = trainer.model.adapter.bb.sentence_embeddings(store.texts[:2])
    torch.testing.assert_close(feats, expect.float().cpu(), atol=1e-5, rtol=0)

    d = ugdata.load(fake_data)
    views = d.views("test").iloc[:4]
    items = [EncodeItem(image=d.image(r.image_id), graph=GraphContext(str(fake_data), tuple(r.graph_context)))
             for r in views.itertuples()]
    items += [EncodeItem(text=c) for c in views.caption]
    before = UGEEmbedder(trainer.model, "live").encode(items, task_name="t", side="query", instruction="Find it.",
                                                       batch_size=3)
    loaded = load_model(str(final), device="cpu")
    assert loaded.meta.pooling == "mean"
    after = loaded.encode(items, task_name="t", side="query", instruction="Find it.", batch_size=5)
    np.testing.assert_allclose(after, before, atol=1e-5)
    no_graph = loaded.encode([EncodeItem(image=items[0].image)], task_name="t", side="query", instruction="Find it.")
    assert not np.allclose(no_graph[0], after[0], atol=1e-4)  # the graph tokens reach the embedding


def test_kill_and_resume_equals_uninterrupted(fake_data, tmp_path):
    """Exact resume with BERT's dropout on (its own 0.1), a fully trained vision tower and GradCache."""
    extra = {"train": {"max_steps": 4, "save_every_steps": 2, "per_device_batch_size": 3,
                       "gradcache_chunk_size": 4},
             "optim": {"lr": 1e-3, "vision_lr": 3e-3, "warmup_ratio": 0.25}}
    full_run, cut_run = tmp_path / "full", tmp_path / "cut"
    train(config_from_dict(_cfg(fake_data, full_run, **{k: dict(v) for k, v in extra.items()})))
    cut = _cfg(fake_data, cut_run, **{k: dict(v) for k, v in extra.items()})
    cut["train"]["stop_after_steps"] = 3
    with pytest.raises(SimulatedKill):
        train(config_from_dict(cut))
    cut["train"]["stop_after_steps"] = None
    cut["train"]["resume_from"] = "latest"
    train(config_from_dict(cut))
    a = load_file(str(full_run / "final" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(cut_run / "final" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and any("vision_tower" in k for k in a)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_pooling_is_the_familys(fake_data, tmp_path):
    from ugcore.errors import UserError

    raw = _cfg(fake_data, tmp_path / "r", train={"max_steps": 1})
    raw["embedding"] = {"pooling": "last_token"}
    with pytest.raises(UserError, match="pools by mean"):
        Trainer(config_from_dict(raw)).build()
