"""A finished checkpoint is a ugbench model: loaded through ugbench's checkpoint adapter (no uge import in
ugbench) it gives the same embeddings as the model at the end of training, graph context included."""

from __future__ import annotations

import json

import numpy as np
from conftest import standin_config

import ugdata
from ugbench.models.registry import load_model
from ugcore.protocol import EncodeItem, EncoderProtocol, GraphContext
from uge.config import config_from_dict
from uge.embedder import UGEEmbedder
from uge.train import Trainer


def test_checkpoint_loads_through_ugbench_protocol(fake_data, tmp_path):
    raw = standin_config(fake_data, tmp_path / "run", train={"max_steps": 2, "stage": 2, "stage2_only": True},
                         loss={"hard_negatives": 1})
    raw["backbone"] = {"name_or_path": "tiny-qwen2-vl", "gradient_checkpointing": False, "max_length": 32}
    raw["embedding"] = {"projection_dim": 24}
    trainer = Trainer(config_from_dict(raw))
    final = trainer.run()
    meta = json.loads((final / "ugbench_model.json").read_text())
    assert meta["loader"] == "uge.embedder:load_checkpoint" and meta["embed_dim"] == 24 and "graph" in meta["modalities"]
    assert (final / "adapter" / "adapter_model.safetensors").is_file() and (final / "uge_heads.safetensors").is_file()

    d = ugdata.load(fake_data)
    views = d.views("test").iloc[:5]
    items = [EncodeItem(image=d.image(r.image_id), text=None, graph=GraphContext(str(fake_data), tuple(r.graph_context)))
             for r in views.itertuples()]
    items += [EncodeItem(text=c) for c in views.caption]
    items += [EncodeItem(image=d.image(views.image_id.iloc[0]), text="near a cafe")]  # fusion, no graph
    before = UGEEmbedder(trainer.model, "live").encode(items, task_name="t", side="query", instruction="Find it.",
                                                       batch_size=4)
    loaded = load_model(str(final), device="cpu")
    assert isinstance(loaded, EncoderProtocol) and loaded.meta.embed_dim == 24 and "graph" in loaded.meta.modalities
    after = loaded.encode(items, task_name="t", side="query", instruction="Find it.", batch_size=3)
    assert after.shape == (len(items), 24)
    np.testing.assert_allclose(after, before, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-5)
    # the graph context changes the embedding (the graph encoder is in use after loading)
    no_graph = loaded.encode([EncodeItem(image=items[0].image)], task_name="t", side="query", instruction="Find it.")
    assert not np.allclose(no_graph[0], after[0], atol=1e-4)


def test_stage2_takes_or_refreshes_the_stage1_projection_head(fake_data, tmp_path):
    """train.init_projection: stage 2 starts from stage 1's LoRA and, by default, its projection head; with
    false, from a fresh head drawn from the seed."""
    import torch
    from safetensors.torch import load_file

    def cfg(out, **train):
        raw = standin_config(fake_data, out, train={"max_steps": 2, **train})
        raw["backbone"] = {"name_or_path": "tiny-qwen2-vl", "gradient_checkpointing": False, "max_length": 32}
        raw["embedding"] = {"projection_dim": 24}
        return config_from_dict(raw)

    s1 = Trainer(cfg(tmp_path / "s1")).run()
    fresh = {}
    for keep in (True, False):
        t = Trainer(cfg(tmp_path / f"s2-{keep}", stage=2, init_adapter=str(s1), init_projection=keep))
        t.build()
        fresh[keep] = t.model.proj.weight.detach().clone()
        lora = {n: p.detach().clone() for n, p in t.model.lm.named_parameters() if "lora_B" in n}
        assert lora and all(bool(p.abs().sum() > 0) for p in lora.values())  # stage 1's LoRA either way
    s1_proj = load_file(str(s1 / "uge_heads.safetensors"))["proj.weight"]
    torch.testing.assert_close(fresh[True], s1_proj)
    assert not torch.allclose(fresh[False], s1_proj)
