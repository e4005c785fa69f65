"""Does UGE learn? The MiniLM-VLM miniature, stage by stage, on held-out cities, with paired tests.

Trains the `minilm-vlm` backbone (the real all-MiniLM-L6-v2 with a small vision tower and a LLaVA-style
projector; configs/uge/minilm-vlm-stage{1,2}.yaml) on the TRAIN cities of a UGData build for several training
seeds, and scores every model with ugbench's own harness on the `test` split, which holds only the held-out
cities (by default the UGBench 2.0 cities, see --data):

    untrained      the backbone with a fresh LoRA (B = 0: the base model) and the seed's fresh projection head
    stage1         after stage 1 (contrastive, no graph)
    stage2         after stage 2 (graph encoder + graph soft tokens), initialised from stage 1
    stage2_zero    the same stage-2 checkpoint, its graph soft tokens replaced by zeros     (graph_mode=zero)
    stage2_other   the same stage-2 checkpoint, fed another place's graph (the context of a place half the city
                   away, uge/other_place.py)                                                (graph_mode=other)
    abl_no_edge    stage 2 trained without edge features           (the paper's ablations, one row each)
    abl_node_only  stage 2 trained with the node encoder only (no message passing)
    abl_no_coords  stage 2 trained without the coordinate encoding

Claims, each a paired test over the same queries (ugbench.compare: paired bootstrap interval and sign-flip
permutation p-value), per training seed and on the seed-averaged per-query scores:
    (a) stage1 > untrained on the main score of each task of the family stage 1 trains for (retrieval), p < .05
    (b) stage2 > stage1, stage2 > stage2_zero and stage2 > stage2_other on each `_graph` task, p < .05
    (c) no collapse: the mean pairwise cosine between the graph soft tokens of different nodes (reported)
    (d) the ablations, rows with intervals

    ugdata build --preset ugbench-2.0 --synth-per-city helsinki=1200,vancouver=1800,nyc_lower_east_side=300,\
north_vancouver=300 --max-queries 800 --out /tmp/ugl
    .venv/bin/python benchmarks/uge_learning.py --data /tmp/ugl --ablation-seeds 0     # seeds 0,1,2; ~1 h, 2 cores
    .venv/bin/python benchmarks/uge_learning.py --data D --seeds 0 --steps1 40 --steps2 20 --no-ablations
    # a stage-2 recipe, reusing an earlier run's stage-1 checkpoints (checked to be this config's):
    .venv/bin/python benchmarks/uge_learning.py --data /tmp/ugl --seeds 0 --no-ablations --stage1-from W \
        --stage2-override loss.hard_negatives=3 --work W2 --out /tmp/recipe
    # why (b) fails: graph text alone vs the captions, and whether a checkpoint's caption side keeps the names
    .venv/bin/python benchmarks/uge_learning.py --data /tmp/ugl --diagnose W/seed0/s1/final,W/seed0/stage2/final

The build above is UGBench 2.0's cities and training points with fewer held-out points (300 per city instead of
1,100) and queries, because every model here is scored several times; the pinned build is the leaderboard's.
Writes benchmarks/results/uge_learning.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# retrieval is the family stage 1 trains for (image <-> caption pairs); geolocation is reported beside it
TASKS = ["retrieval_caption2image", "geoloc_rank"]
CLAIM_A_FAMILY_TASKS = ["retrieval_caption2image"]
ABLATIONS = {
    "abl_no_edge": ["graph.use_edge_features=false"],
    "abl_node_only": ["graph.node_encoder_only=true"],
    "abl_no_coords": ["graph.use_coordinates=false"],
}


def _common(args, data: Path, seed: int) -> list[str]:
    return [f"data.path={data}", f"train.seed={seed}", "train.save_every_steps=null", "logging.tensorboard=false",
            "logging.progress=false", "logging.wandb=disabled", f"train.per_device_batch_size={args.batch}",
            *args.override]


def train_stage(cfg_path: Path, overrides: list[str]) -> Path:
    from uge.config import load_config
    from uge.train import train

    return Path(train(load_config(cfg_path, overrides)))


def reuse_stage1(ckpt: Path, cfg_path: Path, overrides: list[str]) -> Path:
    """A finished stage-1 checkpoint of an earlier run (--stage1-from), after checking that its saved config is
    the one this run would train with (output folder aside): training is seeded and deterministic, so only
    stage 2 is then retrained and everything is still scored by this run's code."""
    import yaml

    from uge.config import load_config

    if not (ckpt / "config.yaml").is_file():
        raise SystemExit(f"--stage1-from: no stage-1 checkpoint at {ckpt} (expected WORK/seedN/s1/final)")
    want = load_config(cfg_path, overrides).model_dump(mode="json")
    have = yaml.safe_load((ckpt / "config.yaml").read_text())
    for d in (want, have):
        d["train"].pop("output_dir", None)
    if want != have:
        diff = sorted(f"{sec}.{k}" for sec in want for k in want[sec] if have.get(sec, {}).get(k) != want[sec][k])
        raise SystemExit(f"--stage1-from: {ckpt} was trained with another config (differs in {', '.join(diff)})")
    return ckpt


def untrained_embedder(cfg_path: Path, overrides: list[str], name: str):
    """The backbone with a fresh LoRA (B = 0, so its output is the base model's) and the seed's fresh head."""
    from uge.backbone import load_adapter
    from uge.config import load_config
    from uge.embedder import UGEEmbedder
    from uge.model import UGEModel

    cfg = load_config(cfg_path, overrides)
    return UGEEmbedder(UGEModel(load_adapter(cfg.backbone, device="cpu"), cfg), name)


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
        out[r["task"]["name"]] = {"score": float(s["main_score"]), "ci95": (s.get("ci95") or {}).get(main),
                                  "n": s.get("n_queries")}
    return out


def soft_token_collapse(ckpt: Path, data: Path, n_items: int = 200) -> dict[str, float]:
    """(c): mean pairwise cosine between the graph soft tokens of different nodes, over the ego subgraphs of the
    first n_items test views (1.0 = every node collapsed onto one vector), beside the same statistic for the
    node text features the encoder starts from (how alike the inputs already are)."""
    import numpy as np
    import torch

    import ugdata
    from uge.embedder import load_checkpoint

    emb = load_checkpoint(str(ckpt), device="cpu")
    views = ugdata.load(data).views("test").head(n_items)
    ctxs = [list(g) for g in views.graph_context if len(g)]
    emb.use_graph_store(str(data))
    model = emb.model
    with torch.no_grad():
        toks, _sizes = model.graph_tokens(ctxs)
        gb = model.graph_store.batch(ctxs, model.cfg.graph.max_nodes)
        feats = model.node_text_features(gb.node_idx)

    def mean_offdiag_cos(x: torch.Tensor) -> float:
        _, first = np.unique(gb.node_idx.numpy(), return_index=True)  # one row per distinct node
        u = torch.nn.functional.normalize(x.float()[np.sort(first)], dim=-1).numpy()
        sim = u @ u.T
        return float(sim[~np.eye(len(u), dtype=bool)].mean())

    return {"node_pairwise_cosine": mean_offdiag_cos(toks), "node_text_feature_pairwise_cosine":
            mean_offdiag_cos(feats), "n_nodes": int(len(np.unique(gb.node_idx.numpy()))), "n_items": len(ctxs)}


def _caption_queries(data: Path, task: str):
    """The test queries of a caption -> view task in text mode (a caption alone; fusion queries repeat the same
    captions) and the task's corpus indexed by doc id: what both probes below rank."""
    import pandas as pd

    q = pd.read_parquet(data / "tasks" / task / "queries.parquet")
    q = q[(q["split"] == "test") & (q["query_mode"] == "text")].reset_index(drop=True)
    return q, pd.read_parquet(data / "tasks" / task / "corpus.parquet").set_index("doc_id")


def _frozen_embed(adapter, texts: list[str], max_tokens: int):
    """Unit-length frozen MiniLM sentence embeddings (the family's node-text features: no LoRA, no head)."""
    import torch

    with torch.no_grad():
        return torch.nn.functional.normalize(adapter.node_text_features(texts, max_tokens), dim=-1).numpy()


def _hit_at_1(scores, pos: int) -> float:
    """hit@1 of candidate `pos` under `scores` (one query), ties by ugcore.ranking's expected-value rule."""
    from ugcore.ranking import prob_within, tie_counts

    better, tied = tie_counts(scores[None], scores[pos : pos + 1])
    return float(prob_within(better, tied, 1)[0])


def graph_text_probe(data: Path, s2_cfg: Path, task: str = "retrieval_caption2image", top: int = 3) -> dict:
    """What the graph's node texts alone can tell, with no training: each test query (a caption) ranks its
    candidates by the mean of the `top` largest cosines between the frozen MiniLM sentence embedding of the
    caption and those of the candidate's graph nodes (the first graph.max_nodes of its context, as the encoder
    sees them; the view's own image node left out: its text names only the image id). Candidates of one place
    share one graph, so they tie; ties are scored by ugcore.ranking's expected-value rule. hit@1 here is the
    task's main score computed from graph text alone; place@1 is whether the top graph is the positive's place.
    A reference for claim (b): how much the graph could add, if stage 2 learnt to match names."""
    import numpy as np

    import ugdata
    from uge.backbone import load_adapter
    from uge.config import load_config
    from uge.graph_data import GraphStore

    cfg = load_config(s2_cfg, [f"data.path={data}"])
    adapter = load_adapter(cfg.backbone, device="cpu")
    d = ugdata.load(data)
    store = GraphStore(d.nodes, d.edges)
    q, corpus = _caption_queries(data, task)
    ctx = {doc: store.indices(corpus.at[doc, "graph_context"], cfg.graph.max_nodes)[1:]
           for doc in sorted({c for cs in q["candidate_ids"] for c in cs})}
    nodes = np.unique(np.concatenate(list(ctx.values())))
    feat = _frozen_embed(adapter, [store.texts[i] for i in nodes], cfg.graph.node_text_max_tokens)
    cap = _frozen_embed(adapter, list(q["text"]), cfg.backbone.max_length)
    row = {n: i for i, n in enumerate(nodes)}
    hit, place = [], []
    for i, r in q.iterrows():
        cands = list(r["candidate_ids"])
        s = np.array([np.sort(feat[[row[n] for n in ctx[c]]] @ cap[i])[-top:].mean() for c in cands])
        pos = cands.index(r["positive_ids"][0])
        hit.append(_hit_at_1(s, pos))
        place.append(float(cands[int(np.argmax(s))].rsplit("-", 1)[0] == cands[pos].rsplit("-", 1)[0]))
    n_places = float(np.mean([len({c.rsplit("-", 1)[0] for c in cs}) for cs in q["candidate_ids"]]))
    return {"task": task, "n_queries": len(q), "score": f"mean of the top {top} caption-node cosines",
            "hit@1": float(np.mean(hit)), "place@1": float(np.mean(place)), "places_per_query": n_places,
            "chance_hit@1": 1 / 25, "chance_place@1": 1 / n_places}


def caption_name_probe(ckpt: Path | None, data: Path, task: str = "retrieval_caption2image") -> dict:
    """Does a model's text side keep the place names? Each test query (a caption) ranks its candidates by the
    cosine between its embedding and the embedding of a text listing the candidate's graph node names (the
    distinct names among the first graph.max_nodes of its context, image node left out), both through the
    model's own text side (LoRA and projection head). ckpt None: the frozen MiniLM sentence embedding (no LoRA,
    no head), the reference. Near chance (.04) means the caption embedding no longer carries the names, so no
    graph token can be matched to it by name."""
    import numpy as np

    import ugdata
    from ugcore.protocol import EncodeItem
    from uge.backbone import load_adapter
    from uge.config import load_config
    from uge.embedder import load_checkpoint

    q, corpus = _caption_queries(data, task)
    names = ugdata.load(data).nodes.set_index("node_id")["name"]
    cfg = load_config(ROOT / "configs/uge/minilm-vlm-stage2.yaml", [f"data.path={data}"])
    docs = sorted({c for cs in q["candidate_ids"] for c in cs})

    def name_text(doc: str) -> str:
        out: list[str] = []
        for g in list(corpus.at[doc, "graph_context"])[1 : cfg.graph.max_nodes]:
            n = str(names.get(g) or "")
            if n and n not in ("unnamed", "None", "nan") and n not in out:
                out.append(n)
        return ". ".join(out) or "unnamed"

    if ckpt is None:
        adapter = load_adapter(cfg.backbone, device="cpu")

        def embed(texts: list[str]) -> np.ndarray:
            return _frozen_embed(adapter, texts, cfg.backbone.max_length)
    else:
        model = load_checkpoint(str(ckpt), device="cpu")

        def embed(texts: list[str]) -> np.ndarray:
            return model.encode([EncodeItem(text=t) for t in texts], task_name="caption-name-probe",
                                side="document", batch_size=32)

    cap, dv = embed(list(q["text"])), embed([name_text(d) for d in docs])
    row = {d: i for i, d in enumerate(docs)}
    hit = [_hit_at_1(dv[[row[c] for c in r["candidate_ids"]]] @ cap[i], list(r["candidate_ids"]).index(r["positive_ids"][0]))
           for i, r in q.iterrows()]
    return {"model": "frozen MiniLM (no LoRA, no head)" if ckpt is None else str(ckpt), "task": task,
            "n_queries": len(q), "hit@1": float(np.mean(hit)), "chance": 1 / 25}


def other_place_distances(data: Path) -> dict[str, float]:
    """How far "another place" is: metres between each test place and the place whose graph it is given."""
    import numpy as np

    import ugdata
    from uge.other_place import OtherPlaceGraphs

    g = OtherPlaceGraphs.from_data(str(data))  # the pairing graph_mode=other uses (all splits)
    test = sorted({g.by_centre[c[0]] for c in ugdata.load(data).views("test").graph_context if len(c)})
    m = g.distances_m()[test]
    return {"n_places": len(m), "min_m": float(m.min()), "median_m": float(np.median(m))}


def one_seed(args, data: Path, work: Path, seed: int, s1_cfg: Path, s2_cfg: Path) -> dict:
    from uge.embedder import load_checkpoint

    base = _common(args, data, seed)
    st1 = [f"train.max_steps={args.steps1}"] if args.steps1 else []
    st2 = [f"train.max_steps={args.steps2}"] if args.steps2 else []
    plain, graph = args.tasks, [f"{x}_graph" for x in args.tasks]
    timings, folders = {}, {}
    t = time.perf_counter()
    folders["untrained"] = evaluate_model(
        untrained_embedder(s1_cfg, [*base, f"train.output_dir={work / 'u'}"], f"minilm-vlm-untrained-seed{seed}"),
        data, plain, work / "res" / "untrained", args.eval_batch)
    timings["untrained_eval_s"] = time.perf_counter() - t
    t = time.perf_counter()
    s1_over = [*base, *st1, f"train.output_dir={work / 's1'}"]
    if args.stage1_from:
        s1 = reuse_stage1(Path(args.stage1_from) / f"seed{seed}" / "s1" / "final", s1_cfg, s1_over)
    else:
        s1 = train_stage(s1_cfg, s1_over)
    timings["stage1_train_s"] = time.perf_counter() - t
    ablate = not args.no_ablations and (args.ablation_seeds is None or seed in args.ablation_seeds)
    runs = {"stage2": []} | (ABLATIONS if ablate else {})
    ckpts = {"stage1": s1}
    for name, extra in runs.items():
        t = time.perf_counter()
        ckpts[name] = train_stage(s2_cfg, [*base, *st2, *args.stage2_override, *extra,
                                           f"train.output_dir={work / name}",
                                           f"train.init_adapter={s1}"])
        timings[f"{name}_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    folders["stage1"] = evaluate_model(load_checkpoint(str(s1), device="cpu"), data, plain + graph,
                                       work / "res" / "stage1", args.eval_batch)
    for name in runs:
        folders[name] = evaluate_model(load_checkpoint(str(ckpts[name]), device="cpu"), data, graph,
                                       work / "res" / name, args.eval_batch)
    for mode in ("zero", "other"):
        folders[f"stage2_{mode}"] = evaluate_model(load_checkpoint(str(ckpts["stage2"]), device="cpu", graph_mode=mode),
                                                   data, graph, work / "res" / f"stage2_{mode}", args.eval_batch)
    timings["eval_s"] = time.perf_counter() - t
    curves = {k: [json.loads(x) for x in (Path(v).parent / "metrics.jsonl").read_text().splitlines()
                  if '"eval/mrr"' in x] for k, v in ckpts.items() if k in ("stage1", "stage2")}
    return {"seed": seed, "folders": {k: str(v) for k, v in folders.items()},
            "scores": {k: main_scores(v) for k, v in folders.items()}, "timings": timings,
            "collapse": soft_token_collapse(ckpts["stage2"], data), "val_curves": curves,
            "other_place": other_place_distances(data)}


def pooled_compare(folders_a: list[Path], folders_b: list[Path], tasks: list[str], seed: int = 0) -> list[dict]:
    """Seed-averaged per-query scores of A and B, paired over the same queries (one test per task)."""
    import numpy as np
    import pandas as pd

    from ugbench.compare import split_scores
    from ugbench.evaluation import per_query_path
    from ugbench.stats import paired_test

    def per_query(folders: list[Path], task: str) -> pd.Series | None:
        series = []
        for f in folders:
            p = f / f"{task}.json"
            if not p.is_file():
                return None
            main = json.loads(p.read_text())["task"]["main_score"]
            series.append(split_scores(pd.read_parquet(per_query_path(p)), main, "test"))
        return pd.concat(series, axis=1).mean(axis=1)

    rows = []
    for task in tasks:
        a, b = per_query(folders_a, task), per_query(folders_b, task)
        if a is None or b is None:
            continue
        ids = sorted(set(a.index) & set(b.index))
        va, vb = a.loc[ids].to_numpy(np.float64), b.loc[ids].to_numpy(np.float64)
        rows.append({"task": task, "a": float(va.mean()), "b": float(vb.mean()),
                     **paired_test(va, vb, seed=seed, keys=("pooled", task))})
    return rows


CLAIMS = [  # (claim, a, b, tasks: "a" = the family stage 1 trains for, "graph" = the _graph tasks)
    ("a", "stage1", "untrained", "a"),
    ("b", "stage2", "stage1", "graph"),
    ("b", "stage2", "stage2_zero", "graph"),
    ("b", "stage2", "stage2_other", "graph"),
    *(("d", "stage2", name, "graph") for name in ABLATIONS),  # (d): what each ablated part adds (no threshold)
]


def test_claims(runs: list[dict], tasks: list[str]) -> list[dict]:
    from ugbench.compare import compare

    out = []
    for claim, a, b, which in CLAIMS:
        names = [t for t in CLAIM_A_FAMILY_TASKS if t in tasks] if which == "a" else [f"{t}_graph" for t in tasks]
        have = [r for r in runs if a in r["folders"] and b in r["folders"]]  # ablations: some seeds only
        if not have:
            continue
        fa = [Path(r["folders"][a]) for r in have]
        fb = [Path(r["folders"][b]) for r in have]
        per_seed = []
        for r, x, y in zip(have, fa, fb, strict=True):
            c = compare(x, y, seed=0, splits=["test"])
            per_seed.append({"seed": r["seed"], "tasks": [t for t in c["tasks"] if t["task"] in names]})
        pooled = pooled_compare(fa, fb, names)
        holds_each_seed = all(t["difference"] > 0 and t["p_value"] < 0.05 for s in per_seed for t in s["tasks"])
        out.append({"claim": claim, "a": a, "b": b, "tasks": names, "per_seed": per_seed, "pooled": pooled,
                    "holds_pooled": bool(pooled) and all(p["difference"] > 0 and p["p_value"] < 0.05 for p in pooled),
                    "holds_every_seed": holds_each_seed})
    return out


def summarise_scores(runs: list[dict]) -> dict:
    import numpy as np

    scores = {}
    for name in runs[0]["scores"]:
        scores[name] = {}
        have = [r for r in runs if name in r["scores"]]  # the ablations may run for some seeds only
        for task in runs[0]["scores"][name]:
            vals = [r["scores"][name][task]["score"] for r in have]
            scores[name][task] = {"mean": float(np.mean(vals)), "seed_sd": float(np.std(vals, ddof=1)) if len(vals) > 1
                                  else None, "per_seed": vals, "seeds": [r["seed"] for r in have],
                                  "ci95_per_seed": [r["scores"][name][task]["ci95"] for r in have],
                                  "n": runs[0]["scores"][name][task]["n"]}
    return scores


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
    ap.add_argument("--data", required=True, help="a UGData build whose test split is held-out cities (see above)")
    ap.add_argument("--stage1-config", default=str(ROOT / "configs/uge/minilm-vlm-stage1.yaml"))
    ap.add_argument("--stage2-config", default=str(ROOT / "configs/uge/minilm-vlm-stage2.yaml"))
    ap.add_argument("--steps1", type=int, default=None, help="stage-1 steps (default: the config's)")
    ap.add_argument("--steps2", type=int, default=None, help="stage-2 steps (default: the config's)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eval-batch", type=int, default=32)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--override", action="append", default=[], help="KEY=VALUE for both stages' configs")
    ap.add_argument("--no-ablations", action="store_true", help="skip the three ablation trainings")
    ap.add_argument("--ablation-seeds", default=None, help="train the ablations for these seeds only (default: all)")
    ap.add_argument("--stage2-override", action="append", default=[], metavar="KEY=VALUE",
                    help="KEY=VALUE for the stage-2 config only (a stage-2 recipe; stage 1 stays reusable)")
    ap.add_argument("--diagnose", default=None, metavar="CKPT,...",
                    help="instead of training: the graph-text probe and the caption-name probe (frozen MiniLM and "
                         "each checkpoint given), written to OUT_diagnosis.json")
    ap.add_argument("--stage1-from", default=None, metavar="WORK",
                    help="reuse the stage-1 checkpoints WORK/seedN/s1/final of an earlier run's --work, checked to "
                         "have this run's stage-1 config (retrains stage 2 only; every model is re-scored)")
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "uge_learning"),
                    help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    args.tasks = [x for x in args.tasks.split(",") if x]
    args.ablation_seeds = None if args.ablation_seeds is None else [int(x) for x in args.ablation_seeds.split(",") if x]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    if args.diagnose is not None:
        ckpts = [Path(c) for c in args.diagnose.split(",") if c]
        diag = {"data": str(data), "git_commit": git_commit(),
                "graph_text_probe": graph_text_probe(data, Path(args.stage2_config)),
                "caption_name_probe": [caption_name_probe(c, data) for c in [None, *ckpts]]}
        print(json.dumps(diag, indent=2))
        out_path = Path(f"{args.out}_diagnosis.json")
        tmp = out_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(diag, indent=2, sort_keys=True) + "\n")
        tmp.replace(out_path)
        return diag
    work = Path(args.work or tempfile.mkdtemp(prefix="uge_learning_"))
    s1_cfg, s2_cfg = Path(args.stage1_config), Path(args.stage2_config)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    t0 = time.perf_counter()
    runs = []
    for s in seeds:
        runs.append(one_seed(args, data, work / f"seed{s}", s, s1_cfg, s2_cfg))
        print(f"seed {s} done in {sum(runs[-1]['timings'].values()) / 60:.1f} min", flush=True)
    manifest = json.loads((data / "manifest.json").read_text())
    out = {"benchmark": "uge_learning", "data": str(data), "data_fingerprint": manifest.get("fingerprint"),
           "data_config": manifest.get("config"), "git_commit": git_commit(), "seeds": seeds,
           "steps1": args.steps1, "steps2": args.steps2, "stage1_from": args.stage1_from, "overrides": args.override,
           "stage2_overrides": args.stage2_override, "tasks": args.tasks,
           "split": "test (held-out cities only)", "scores": summarise_scores(runs),
           "claims": test_claims(runs, args.tasks), "collapse": [r["collapse"] for r in runs],
           "other_place": runs[0]["other_place"], "val_curves": {r["seed"]: r["val_curves"] for r in runs},
           "timings": [r["timings"] for r in runs], "total_s": time.perf_counter() - t0,
           "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform(),
                       "load_average_end": os.getloadavg()[0]}}
    md = report(out)
    print(md)
    if args.out:
        p = Path(args.out)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
        tmp.replace(p.with_suffix(".json"))
        p.with_suffix(".md").write_text(md)
    return out


def report(out: dict) -> str:
    """Markdown: scores (mean over seeds, seed sd, per-seed 95% CI over queries), then each claim's tests."""
    seeds = out["seeds"]
    lines = [f"# UGE learning: MiniLM-VLM on held-out cities ({out['split']})", "",
             f"data fingerprint `{str(out['data_fingerprint'])[:23]}`, commit `{out['git_commit'][:12]}`, seeds "
             f"{seeds}, tasks' main score (hit@1 over 25 candidates: chance .040)", "",
             "| model | task | mean over seeds | seed sd | seed: score [95% CI over queries] |", "|---|---|---:|---:|---|"]
    for model, tasks in out["scores"].items():
        for task, s in tasks.items():
            per = ", ".join(f"{sd_}: {v:.3f}" + (f" [{c[0]:.3f}, {c[1]:.3f}]" if c else "")
                            for sd_, v, c in zip(s["seeds"], s["per_seed"], s["ci95_per_seed"], strict=True))
            sd = f"{s['seed_sd']:.3f}" if s["seed_sd"] is not None else "-"
            lines.append(f"| {model} | {task} | {s['mean']:.3f} | {sd} | {per} |")
    lines += ["", "## Claims (paired over the same queries; difference = a - b)", ""]
    for c in out["claims"]:
        if c["claim"] == "d":  # an ablation row: what the ablated part adds, no threshold to pass
            lines.append(f"**(d) {c['a']} - {c['b']}** (what the ablated part adds; seeds {[s['seed'] for s in c['per_seed']]})")
        else:
            verdict = ("holds" if c["holds_pooled"] else "does NOT hold") + " on the seed-averaged scores (p < .05); " + (
                "holds" if c["holds_every_seed"] else "does not hold") + " in every seed"
            lines.append(f"**({c['claim']}) {c['a']} > {c['b']}**: {verdict}")
        lines.append("")
        lines.append("| task | seeds | a | b | difference [95% CI] | p |")
        lines.append("|---|---|---:|---:|---|---:|")
        for p in c["pooled"]:
            lines.append(f"| {p['task']} | mean | {p['a']:.3f} | {p['b']:.3f} | {p['difference']:+.3f} "
                         f"[{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}] | {p['p_value']:.4f} |")
        for s in c["per_seed"]:
            for t in s["tasks"]:
                lines.append(f"| {t['task']} | {s['seed']} | {t['a']:.3f} | {t['b']:.3f} | {t['difference']:+.3f} "
                             f"[{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}] | {t['p_value']:.4f} |")
        lines.append("")
    lines.append("## (c) graph soft tokens")
    lines.append("")
    for s, c in zip(seeds, out["collapse"], strict=True):
        lines.append(f"- seed {s}: mean pairwise cosine between different nodes' soft tokens "
                     f"{c['node_pairwise_cosine']:.3f} ({c['n_nodes']} nodes; their input text features "
                     f"{c['node_text_feature_pairwise_cosine']:.3f})")
    op = out["other_place"]
    lines += ["", f"Another place's graph: each test place gets the graph of a place a median {op['median_m']:.0f} m "
              f"(min {op['min_m']:.0f} m) away in the same city ({op['n_places']} places).", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
