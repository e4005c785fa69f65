"""It learns (fast version of benchmarks/uge_learning.py, one training seed instead of three): the tiny Qwen2-VL
trained with the shipped tiny configs on UGData of the embedded city (800 synthetic views from the real
builder) beats the same untrained backbone on the held-out split, stage 2 beats stage 1 when the queries carry
their ego subgraph, and the graph itself is part of that gain (the same stage-2 model scores lower without it).

Metric: held-out image -> caption retrieval over all 176 test captions (uge.quick_eval, through the ugbench
model protocol). Measured with seed 0 (benchmarks/results/uge_learning_800views.json): untrained MRR .043,
stage 1 .143, stage 2 .156 without the graph and .180 with it. The asserted margins are about half of those.
Deterministic: one torch thread, seeded data and training."""

from __future__ import annotations

from pathlib import Path

import ugdata
from ugdata.testing import small_build
from uge.backbone import load_adapter
from uge.config import load_config
from uge.embedder import UGEEmbedder, load_checkpoint
from uge.model import UGEModel
from uge.quick_eval import caption_retrieval
from uge.train import train

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_uge_learns_and_stage2_reads_the_graph(tmp_path):
    data = small_build(tmp_path / "d", n_views=800, seed=0)
    d = ugdata.load(data)
    common = [f"data.path={data}", "train.seed=0", "train.save_every_steps=null", "logging.tensorboard=false",
              "logging.progress=false", "logging.wandb=disabled"]
    cfg1 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage1.yaml", [*common, f"train.output_dir={tmp_path / 's1'}"])
    untrained = UGEEmbedder(UGEModel(load_adapter(cfg1.backbone, device="cpu"), cfg1), "untrained")
    base = caption_retrieval(untrained, d, "test", with_graph=False)["mrr"]
    s1 = train(cfg1)
    m1 = load_checkpoint(str(s1), device="cpu")
    r1 = caption_retrieval(m1, d, "test", with_graph=False)["mrr"]
    assert r1 >= base + 0.05, (base, r1)
    assert caption_retrieval(m1, d, "test", with_graph=True)["mrr"] == r1  # stage 1 has no graph encoder

    cfg2 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage2.yaml",
                       [*common, f"train.output_dir={tmp_path / 's2'}", f"train.init_adapter={s1}"])
    m2 = load_checkpoint(str(train(cfg2)), device="cpu")
    r2_graph = caption_retrieval(m2, d, "test", with_graph=True)["mrr"]
    r2_plain = caption_retrieval(m2, d, "test", with_graph=False)["mrr"]
    assert r2_graph >= r1 + 0.015, (r1, r2_graph)  # stage 2 adds on the with-graph task
    assert r2_graph >= r2_plain + 0.012, (r2_plain, r2_graph)  # and the graph is what adds part of it
