"""Does UGE learn? The MiniLM-VLM miniature, stage by stage, on the held-out cities of the pinned benchmark.

Trains the `minilm-vlm` backbone (a real all-MiniLM-L6-v2 language model with a small vision tower and a
LLaVA-style projector; configs/uge/minilm-vlm-stage{1,2}.yaml) on the TRAIN cities of a UGData build (by default
the pinned UGBench 2.0 build, `ugdata build --preset ugbench-2.0`), for several training seeds, and scores with
ugbench's own harness on the `test` split, which holds only the held-out cities:

    untrained        the backbone with a fresh (identity) LoRA: exactly the untrained backbone
    stage1           after stage 1 (contrastive, no graph)
    stage2           after stage 2 (graph encoder + soft graph tokens), initialised from stage 1
    stage2_zero      the same stage-2 checkpoint with its graph soft tokens replaced by zeros
    stage2_other     the same stage-2 checkpoint given another place's graph (a fixed derangement of the
                     queries' graph contexts, each swapped with one >= 500 m away)
    abl_no_edge      stage 2 trained without edge features          (the paper's ablations, one row each)
    abl_node_only    stage 2 trained with the node encoder only (no message passing)
    abl_no_coords    stage 2 trained without the coordinate encoding

Claims tested, each with a paired test over the same queries (ugbench.compare; per training seed, and on the
seed-averaged per-query scores):
    (a) stage1 > untrained on the main score of every family it trains for, p < 0.05
    (b) stage2 > stage1 on the `_graph` tasks, and stage2 > stage2_zero and stage2 > stage2_other, p < 0.05
    (c) no collapse: mean pairwise cosine between graph soft tokens of different nodes (reported)
    (d) the ablations, as rows with intervals

    .venv/bin/python benchmarks/uge_learning.py --data /tmp/ugbench-2.0           # seeds 0,1,2
    .venv/bin/python benchmarks/uge_learning.py --data D --seeds 0 --steps1 40 --steps2 40 --quick

Prints tables and writes benchmarks/results/uge_learning.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the families stage 1 trains for (image + instruction -> spatial description) and their main tasks
TASKS = ["retrieval_caption2image", "geoloc_rank", "grounding_nearest_poi", "retrieval_image2image"]
ABLATIONS = {
    "abl_no_edge": ["graph.use_edge_features=false"],
    "abl_node_only": ["graph.node_encoder_only=true"],
    "abl_no_coords": ["graph.use_coordinates=false"],
}


def _common(args, data: Path, seed: int) -> list[str]:
    return [f"data.path={data}", f"train.seed={seed}", "train.save_every_steps=null", "logging.tensorboard=false",
            "logging.progress=false", "logging.wandb=disabled", f"train.per_device_batch_size={args.batch}"]


def train_stage(cfg_path: Path, overrides: list[str]) -> Path:
    from uge.config import load_config
    from uge.train import train

    return Path(train(load_config(cfg_path, overrides)))


def untrained_embedder(cfg_path: Path, data: Path, out: Path):
    """The backbone with a fresh LoRA (B = 0, so its output is the base model's) wrapped as a ugbench model."""
    from uge.backbone import load_adapter
    from uge.config import load_config
    from uge.embedder import UGEEmbedder
    from uge.model import UGEModel

    cfg = load_config(cfg_path, [f"data.path={data}", f"train.output_dir={out}"])
    return UGEEmbedder(UGEModel(load_adapter(cfg.backbone, device="cpu"), cfg), "minilm-vlm-untrained")


def evaluate_model(model, data: Path, tasks: list[str], out: Path, batch: int) -> Path:
    """ugbench's harness on the test split; returns the model's results folder (per-query files included)."""
    from rich.console import Console

    from ugbench.evaluation import evaluate

    evaluate(model, data, tasks=tasks, output=out, splits=["test"], cache_dir=None, overwrite=True,
             show_progress=False, console=Console(quiet=True), batch_size=batch)
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def main_scores(folder: Path) -> dict[str, dict]:
    """task -> {score, ci95, n} of the test split."""
    out = {}
    for p in sorted(folder.glob("*.json")):
        r = json.loads(p.read_text())
        if "task" not in r or "scores" not in r or "test" not in r["scores"]:
            continue
        s = r["scores"]["test"]
        main = r["task"]["main_score"]
        out[r["task"]["name"]] = {"score": float(s["main_score"]),
                                  "ci95": (s.get("ci95") or {}).get(main),
                                  "n": s.get("n_queries")}
    return out


def soft_token_collapse(ckpt: Path, data: Path, n_items: int = 200) -> dict[str, float]:
    """(c): mean pairwise cosine between the graph soft tokens of different nodes, and between items' pooled
    graph tokens, on held-out items (1.0 = every node collapsed onto one vector)."""
    import numpy as np
    import torch

    import ugdata
    from uge.embedder import load_checkpoint

    emb = load_checkpoint(str(ckpt), device="cpu")
    d = ugdata.load(data)
    views = d.views.to_pandas() if hasattr(d.views, "to_pandas") else d.views
    test = views[views.split == "test"].head(n_items)
    ctxs = [list(g) for g in test.graph_context if len(g)]
    emb._use_store(str(data))
    with torch.no_grad():
        toks, sizes = emb.model.graph_tokens(ctxs)
    t = torch.nn.functional.normalize(toks.float(), dim=-1).numpy()
    # nodes are repeated across items' contexts: keep one row per distinct node id
    ids = [n for c in ctxs for n in c[: emb.model.cfg.graph.max_nodes]][: len(t)]
    _, first = np.unique(np.array(ids), return_index=True)
    u = t[np.sort(first)]
    sim = u @ u.T
    off = sim[~np.eye(len(u), dtype=bool)]
    pooled = np.stack([x.mean(0) for x in np.split(t, np.cumsum(sizes)[:-1])])
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    ps = pooled @ pooled.T
    return {"node_pairwise_cosine": float(off.mean()), "n_nodes": int(len(u)),
            "item_pooled_pairwise_cosine": float(ps[~np.eye(len(ps), dtype=bool)].mean()), "n_items": len(pooled)}


def one_seed(args, data: Path, work: Path, seed: int, s1_cfg: Path, s2_cfg: Path) -> dict:
    from uge.embedder import load_checkpoint

    base = _common(args, data, seed)
    st1 = [f"train.max_steps={args.steps1}"] if args.steps1 else []
    st2 = [f"train.max_steps={args.steps2}"] if args.steps2 else []
    timings = {}
    t = time.perf_counter()
    s1 = train_stage(s1_cfg, [*base, *st1, f"train.output_dir={work / 's1'}"])
    timings["stage1_train_s"] = time.perf_counter() - t
    runs = {"stage2": []}
    if not args.quick:
        runs.update(ABLATIONS)
    ckpts = {"stage1": s1}
    for name, extra in runs.items():
        t = time.perf_counter()
        ckpts[name] = train_stage(s2_cfg, [*base, *st2, *extra, f"train.output_dir={work / name}",
                                           f"train.init_adapter={s1}"])
        timings[f"{name}_train_s"] = time.perf_counter() - t
    graph_tasks = [f"{x}_graph" for x in args.tasks]
    folders = {}
    t = time.perf_counter()
    folders["stage1"] = evaluate_model(load_checkpoint(str(s1), device="cpu"), data, args.tasks + graph_tasks,
                                       work / "res" / "stage1", args.eval_batch)
    for name in runs:
        folders[name] = evaluate_model(load_checkpoint(str(ckpts[name]), device="cpu"), data, graph_tasks,
                                       work / "res" / name, args.eval_batch)
    for mode in ("zero", "other"):
        m = load_checkpoint(str(ckpts["stage2"]), device="cpu")
        m.graph_mode = mode
        folders[f"stage2_{mode}"] = evaluate_model(m, data, graph_tasks, work / "res" / f"stage2_{mode}",
                                                   args.eval_batch)
    timings["eval_s"] = time.perf_counter() - t
    return {"seed": seed, "folders": {k: str(v) for k, v in folders.items()},
            "scores": {k: main_scores(v) for k, v in folders.items()}, "timings": timings,
            "collapse": soft_token_collapse(ckpts["stage2"], data)}


def compare_dirs(a: Path, b: Path, seed: int = 0) -> dict:
    from ugbench.compare import compare

    return compare(a, b, seed=seed, splits=["test"])


def pooled_compare(folders_a: list[Path], folders_b: list[Path], tasks: list[str], seed: int = 0) -> list[dict]:
    """Seed-averaged per-query scores of A and B, paired over the same queries (one test per task)."""
    import numpy as np
    import pandas as pd

    from ugbench.evaluation import per_query_path
    from ugbench.stats import paired_test

    rows = []

    def per_query(folders: list[Path], task: str) -> pd.Series | None:
        series = []
        for f in folders:
            p = f / f"{task}.json"
            if not p.is_file():
                return None
            main = json.loads(p.read_text())["task"]["main_score"]
            q = pd.read_parquet(per_query_path(p))
            series.append(q[q["split"] == "test"].set_index("query_id")[main])
        return pd.concat(series, axis=1).mean(axis=1)

    for task in tasks:
        a, b = per_query(folders_a, task), per_query(folders_b, task)
        if a is None or b is None:
            continue
        ids = sorted(set(a.index) & set(b.index))
        va, vb = a.loc[ids].to_numpy(np.float64), b.loc[ids].to_numpy(np.float64)
        rows.append({"task": task, "a": float(va.mean()), "b": float(vb.mean()),
                     **paired_test(va, vb, seed=seed, keys=("pooled", task))})
    return rows


CLAIMS = [
    # (claim, a, b, which tasks)
    ("a", "stage1", "untrained", "plain"),
    ("b", "stage2", "stage1", "graph"),
    ("b", "stage2", "stage2_zero", "graph"),
    ("b", "stage2", "stage2_other", "graph"),
]


def git_commit() -> str:
    try:
        c = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return c.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a UGData build whose test split is the held-out cities "
                    "(the pinned one: `ugdata build --preset ugbench-2.0 --out DIR`)")
    ap.add_argument("--stage1-config", default=str(ROOT / "configs/uge/minilm-vlm-stage1.yaml"))
    ap.add_argument("--stage2-config", default=str(ROOT / "configs/uge/minilm-vlm-stage2.yaml"))
    ap.add_argument("--steps1", type=int, default=None, help="stage-1 steps (default: the config's)")
    ap.add_argument("--steps2", type=int, default=None, help="stage-2 steps (default: the config's)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eval-batch", type=int, default=32)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--quick", action="store_true", help="no ablation runs")
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "uge_learning.json"))
    args = ap.parse_args(argv)
    args.tasks = [x for x in args.tasks.split(",") if x]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    work = Path(args.work or tempfile.mkdtemp(prefix="uge_learning_"))
    s1_cfg, s2_cfg = Path(args.stage1_config), Path(args.stage2_config)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    t0 = time.perf_counter()
    untrained = evaluate_model(untrained_embedder(s1_cfg, data, work / "u"), data, args.tasks,
                               work / "res_untrained", args.eval_batch)
    runs = [one_seed(args, data, work / f"seed{s}", s, s1_cfg, s2_cfg) for s in seeds]
    plain = args.tasks
    graph = [f"{x}_graph" for x in args.tasks]
    claims = []
    for claim, a, b, which in CLAIMS:
        tasks = plain if which == "plain" else graph
        fa = [Path(r["folders"][a]) for r in runs]
        fb = [untrained] * len(runs) if b == "untrained" else [Path(r["folders"][b]) for r in runs]
        per_seed = []
        for r, x, y in zip(runs, fa, fb, strict=True):
            c = compare_dirs(x, y)
            per_seed.append({"seed": r["seed"], "tasks": [t for t in c["tasks"] if t["task"] in tasks]})
        pooled = pooled_compare(fa, fb, tasks)
        claims.append({"claim": claim, "a": a, "b": b, "per_seed": per_seed, "pooled": pooled,
                       "holds": all(p["difference"] > 0 and p["p_value"] < 0.05 for p in pooled) and bool(pooled)})
    scores = {"untrained": main_scores(untrained)}
    for name in runs[0]["scores"]:
        scores[name] = {}
        for task in runs[0]["scores"][name]:
            vals = [r["scores"][name][task]["score"] for r in runs]
            scores[name][task] = {"mean": sum(vals) / len(vals), "per_seed": vals,
                                  "ci95_seed0": runs[0]["scores"][name][task]["ci95"],
                                  "n": runs[0]["scores"][name][task]["n"]}
    manifest = json.loads((data / "manifest.json").read_text())
    out = {"benchmark": "uge_learning", "data": str(data), "data_fingerprint": manifest.get("fingerprint"),
           "git_commit": git_commit(), "seeds": seeds, "steps1": args.steps1, "steps2": args.steps2,
           "tasks": args.tasks, "split": "test (held-out cities)", "scores": scores, "claims": claims,
           "collapse": [r["collapse"] for r in runs], "timings": [r["timings"] for r in runs],
           "total_s": time.perf_counter() - t0, "load_average_end": os.getloadavg()[0]}
    print_report(out)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return out


def print_report(out: dict) -> None:
    print(f"held-out test split; main score, mean over seeds {out['seeds']} [seed-0 95% CI over queries]")
    models = list(out["scores"])
    tasks = sorted({t for m in models for t in out["scores"][m]})
    for task in tasks:
        cells = []
        for m in models:
            s = out["scores"][m].get(task)
            if s is None:
                continue
            v = s.get("mean", s.get("score"))
            ci = s.get("ci95_seed0") or s.get("ci95")
            cells.append(f"{m}={v:.3f}" + (f" [{ci[0]:.3f},{ci[1]:.3f}]" if ci else ""))
        print(f"{task:40s} " + "  ".join(cells))
    for c in out["claims"]:
        print(f"claim ({c['claim']}) {c['a']} > {c['b']}: {'HOLDS' if c['holds'] else 'does NOT hold'}")
        for p in c["pooled"]:
            print(f"   {p['task']:40s} {p['a']:.3f} vs {p['b']:.3f}  diff {p['difference']:+.3f} "
                  f"[{p['ci95'][0]:+.3f},{p['ci95'][1]:+.3f}] p={p['p_value']:.4f}")
    for i, c in enumerate(out["collapse"]):
        print(f"(c) seed {out['seeds'][i]}: node pairwise cosine {c['node_pairwise_cosine']:.3f} "
              f"over {c['n_nodes']} nodes; item pooled {c['item_pooled_pairwise_cosine']:.3f}")


if __name__ == "__main__":
    main()
