"""It learns (fast version of benchmarks/uge_learning.py, one training seed instead of three): the tiny Qwen2-VL
trained with the shipped tiny configs on UGData of the embedded city (800 synthetic views from the real
builder) beats the same untrained backbone on the held-out split after stage 1 and after stage 2, and stage 2's
graph tokens reach the embedding.

Metric: held-out image -> caption retrieval over all 176 test captions (uge.quick_eval, through the ugbench
model protocol). Measured on this project's 2-core Xeon (same script as this test, seed = data and training
seed), MRR untrained / stage 1 / stage 2 with the graph:
  seed 0  .047 / .143 / .180      seed 1  .026 / .100 / .102      seed 2  .041 / .073 / .135
  seed 0 with NPY_DISABLE_CPU_FEATURES="AVX2 FMA3 AVX512F AVX512CD AVX512_SKX", OPENBLAS_CORETYPE=Sandybridge:
          .047 / .125 / .144
  seed 0 on a user's AMD EPYC (AVX2, no AVX-512): stage 1 .131, stage 2 .119.
The smallest gains over the untrained backbone are +.032 (stage 1, seed 2) and +.076 (stage 2, seed 1); the
test asserts about half of each (+.015 and +.035), so it fails if a stage stops learning, not by luck.

What is NOT asserted here, because it is inside the noise of one seed on one machine: that stage 2 beats stage
1, and that the graph itself adds (the same stage-2 model without its graph). On another machine the first
came out .119 vs .131 with seed 0, and here seed 1 gives .102 vs .100, so a test asserting it fails by luck.
Those claims belong to benchmarks/uge_learning.py (three seeds; docs/training.md), reported with their spread.
Deterministic on one machine: one torch thread, seeded data and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ugdata
from ugcore.protocol import EncodeItem, GraphContext
from ugdata.testing import small_build
from uge.backbone import load_adapter
from uge.config import load_config
from uge.embedder import UGEEmbedder, load_checkpoint
from uge.model import UGEModel
from uge.quick_eval import QUERY_INSTRUCTION, caption_retrieval
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
    assert r1 >= base + 0.015, (base, r1)
    assert caption_retrieval(m1, d, "test", with_graph=True)["mrr"] == r1  # stage 1 has no graph encoder

    cfg2 = load_config(ROOT / "configs/uge/tiny-qwen2-vl-stage2.yaml",
                       [*common, f"train.output_dir={tmp_path / 's2'}", f"train.init_adapter={s1}"])
    m2 = load_checkpoint(str(train(cfg2)), device="cpu")
    r2_graph = caption_retrieval(m2, d, "test", with_graph=True)["mrr"]
    assert r2_graph >= base + 0.035, (base, r1, r2_graph)  # stage 2 keeps (and builds on) what stage 1 learnt

    # The graph path is live after training: the same query images embed differently with their ego subgraph
    # than without (a structural fact, not a margin), and the readout's attention pool left its zero start.
    views = d.views("test").iloc[:8]
    items = [EncodeItem(image=d.image(r.image_id), id=r.image_id,
                        graph=GraphContext(str(d.root), tuple(r.graph_context)) if g else None)
             for g in (True, False) for r in views.itertuples()]
    e = m2.encode(items, task_name="uge-caption-retrieval", side="query", instruction=QUERY_INSTRUCTION,
                  batch_size=16)
    with_g, without_g = e[:8], e[8:]
    assert np.isfinite(e).all()
    assert np.abs(with_g - without_g).max(axis=1).min() > 1e-3, "graph tokens do not reach the embedding"
    pool = m2.model.graph_encoder.pool_score
    assert pool is not None and float(pool.weight.detach().abs().max()) > 0, "the graph readout was not trained"
