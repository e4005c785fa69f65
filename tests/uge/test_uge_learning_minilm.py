"""Stage 1 learns on a CPU (MiniLM-VLM: the real all-MiniLM-L6-v2 behind a small random vision tower): trained
with the shipped stage-1 config (120 of its steps) on UGData of the embedded city (800 synthetic views from the
real builder), it beats the same untrained model on the held-out split by a margin that holds across seeds.

Metric: held-out image -> caption retrieval over all 176 test captions (uge.quick_eval, through the ugbench model
protocol); "untrained" is the UGE model before training (random vision tower and head, LoRA at zero). Measured on
this project's shared 2-core Xeon, seed = data and training seed, MRR untrained -> after 120 steps, with the
config's earlier lr 5e-4:
  seed 0  .034 -> .125 (+.091)      seed 1  .029 -> .077 (+.048)      seed 2  .028 -> .096 (+.068)
The test asserts about half of the smallest gain (+.025), so it fails if stage 1 stops learning, not by luck.
The config's lr is now 2e-4 (5e-4 collapsed on the UGBench 2.0 training cities); at 2e-4 the test passed for
seed 0 on the same machine; seeds 1 and 2 were not rerun at 2e-4.
~1.5 min of training (0.8 s a step, one torch thread) plus two evaluations.
Deterministic on one machine: one torch thread, seeded data and training."""

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
SEED = 0
STEPS = 120


def test_minilm_vlm_stage1_learns(tmp_path):
    data = small_build(tmp_path / "d", n_views=800, seed=SEED)
    d = ugdata.load(data)
    cfg = load_config(ROOT / "configs/uge/minilm-vlm-stage1.yaml", [
        f"data.path={data}", f"train.seed={SEED}", f"train.max_steps={STEPS}", f"train.output_dir={tmp_path / 's1'}",
        "train.save_every_steps=null", "train.eval_every_steps=null", "logging.tensorboard=false",
        "logging.progress=false", "logging.wandb=disabled"])
    untrained = UGEEmbedder(UGEModel(load_adapter(cfg.backbone, device="cpu"), cfg), "untrained")
    base = caption_retrieval(untrained, d, "test", with_graph=False)["mrr"]
    trained = caption_retrieval(load_checkpoint(str(train(cfg)), device="cpu"), d, "test", with_graph=False)["mrr"]
    assert trained >= base + 0.025, (base, trained)
