"""It learns (fast version of benchmarks/uge_learning.py): the tiny Qwen2-VL trained with the shipped tiny
configs beats the same untrained backbone on held-out image -> caption retrieval, and stage 2 (initialised
from stage 1, queries with their ego subgraph) keeps that gain. Deterministic (seeded); the asserted margins
are about half of what this setup measures (untrained MRR 0.145 / R@10 0.34 -> stage 1 0.520 / 1.00 ->
stage 2 with graph 0.528 / 1.00 on 29 held-out views).

Not asserted, because it does not hold yet at this size and budget: that stage 2 BEATS stage 1 (measured
+0.008 MRR here). The ugbench main scores on a real builder dataset are the integration test's and
benchmarks/uge_learning.py's (stage 1 .243 vs untrained .200, mean of six tasks over two seeds)."""

from __future__ import annotations

from pathlib import Path

from fakedata import build_fake_ugdata

import ugdata
from uge.backbone import load_adapter
from uge.config import load_config
from uge.embedder import UGEEmbedder, load_checkpoint
from uge.model import UGEModel
from uge.quick_eval import caption_retrieval
from uge.train import train

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_uge_learns(tmp_path):
    data = build_fake_ugdata(tmp_path / "d", n_views=96, seed=0)
    d = ugdata.load(data)
    common = [f"data.path={data}", "train.save_every_steps=null", "logging.tensorboard=false", "logging.progress=false",
              "data.pair_types={image_caption: 1.0}"]
    cfg1 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage1.yaml",
                       [*common, f"train.output_dir={tmp_path / 's1'}", "train.max_steps=80"])
    untrained = UGEEmbedder(UGEModel(load_adapter(cfg1.backbone, device="cpu"), cfg1), "untrained")
    base = caption_retrieval(untrained, d, "test", with_graph=False)
    s1 = train(cfg1)
    m1 = load_checkpoint(str(s1), device="cpu")
    r1 = caption_retrieval(m1, d, "test", with_graph=False)
    assert r1["mrr"] >= base["mrr"] + 0.18 and r1["recall@10"] >= base["recall@10"] + 0.3, (base, r1)

    cfg2 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage2.yaml",
                       [*common, f"train.output_dir={tmp_path / 's2'}", "train.max_steps=60", f"train.init_adapter={s1}"])
    s2 = train(cfg2)
    m2 = load_checkpoint(str(s2), device="cpu")
    r1g = caption_retrieval(m1, d, "test", with_graph=True)  # stage 1 ignores the graph
    r2g = caption_retrieval(m2, d, "test", with_graph=True)
    assert r1g == r1
    assert r2g["mrr"] >= base["mrr"] + 0.18 and r2g["recall@10"] >= base["recall@10"] + 0.3, (base, r2g)
    no_graph = caption_retrieval(m2, d, "test", with_graph=False)
    assert no_graph != r2g  # the graph context is used
