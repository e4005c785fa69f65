"""UGBench harness overhead: how much of an evaluation is NOT the model's own forward pass.

1. Every task (with all variants) on a mock UGData whose corpora hold 100,000 items, with a zero-cost model
   (precomputed embeddings looked up by item id): time per stage (load, encode incl. image decoding and
   caching, score incl. faiss and probes) and the model's own time.
2. The real MiniLM on the text-side tasks of a smaller mock: encode (forward) time vs total.
Target: everything but the model's forward pass <= 10% of the run (stage 2; stage 1 shows the absolute
harness cost with no model at all). Three shares: `harness_fraction` over the runners' timings (load, encode
bookkeeping, scoring, metrics and bootstrap intervals: sum of timings_s total minus model_forward);
`harness_fraction_wall` over the whole evaluate() call (also opening and verifying the data, loading the
model, writing results JSON and per-query sidecars); `harness_fraction_wall_without_model_load`, the same
without the model's own loading. The bootstrap intervals (ugbench.stats) are timed on their own
(`bootstrap_s`, `bootstrap_calls`) by wrapping the functions the runners call, since they run inside the
runners' "score" stage. Prints a table and writes benchmarks/results/ugbench_overhead.json; `--parts` runs
one part and keeps the other's last measurement from that file (each part records its own date and commit).

    .venv/bin/python benchmarks/ugbench_overhead.py [--n-items 100000] [--queries 1000] [--minilm-places 2000]
                                                    [--parts zero-cost,minilm]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class Precomputed:
    """Zero-cost model: embeddings precomputed for every item id; encode is a table lookup."""

    def __init__(self, ids: list[str], dim: int = 64):
        from ugcore.protocol import ModelMeta

        self.index = {i: n for n, i in enumerate(ids)}
        self.table = np.random.default_rng(0).standard_normal((len(ids), dim)).astype(np.float32)
        # declares text + image so the harness decodes images as it would for a real multimodal model
        self.meta = ModelMeta(name="precomputed", embed_dim=dim, modalities=["text", "image"])

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        return self.table[[self.index[f"{side}:{it.id}"] for it in items]]


def _all_ids(data: Path) -> list[str]:
    import pandas as pd

    ids = []
    for t in sorted((data / "tasks").iterdir()):
        for table, col, side in (("queries", "query_id", "query"), ("corpus", "doc_id", "document"),
                                 ("targets", "image_id", "query")):
            p = t / f"{table}.parquet"
            if p.is_file():
                ids += [f"{side}:{i}" for i in pd.read_parquet(p, columns=[col])[col].astype(str)]
    return sorted(set(ids))


def _stages(results: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        for k, v in r["provenance"]["timings_s"].items():
            if k != "model_load":
                out[k] = out.get(k, 0.0) + v
    return out


@contextlib.contextmanager
def timed_bootstrap() -> Iterator[dict[str, float]]:
    """Time every bootstrap interval the runners compute: {data task: seconds, "_calls": n, "_total": seconds}.

    Patches the names the runner modules imported (ugbench.runners.ranking / .perception), restored on exit."""
    import ugbench.runners.perception as perception
    import ugbench.runners.ranking as ranking

    spent: dict[str, float] = {"_calls": 0, "_total": 0.0}
    targets = [(ranking, "bootstrap_ci"), (perception, "bootstrap_ci"), (perception, "bootstrap_stat_ci")]
    originals = [getattr(mod, name) for mod, name in targets]

    def wrap(fn):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t
                task = str((kwargs.get("keys") or ("?",))[0])
                spent[task] = spent.get(task, 0.0) + dt
                spent["_calls"] += 1
                spent["_total"] += dt
        return timed

    for (mod, name), fn in zip(targets, originals, strict=True):
        setattr(mod, name, wrap(fn))
    try:
        yield spent
    finally:
        for (mod, name), fn in zip(targets, originals, strict=True):
            setattr(mod, name, fn)


def _stamp() -> dict:
    """When, on what code and how busy the (possibly shared) machine was: recorded per part."""
    from ugcore.provenance import git_commit, utc_now, versions

    return {"created_at": utc_now(), "git_commit": git_commit(), "loadavg": list(os.getloadavg()),
            "versions": versions(("numpy", "pandas", "torch", "sentence-transformers", "scikit-learn"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-items", type=int, default=100_000, help="images in the corpus (2 views per place)")
    ap.add_argument("--queries", type=int, default=1000, help="query places per task")
    ap.add_argument("--minilm-places", type=int, default=2000)
    ap.add_argument("--parts", default="zero-cost,minilm",
                    help="parts to run; a part left out keeps its last measurement from --out")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ugbench_overhead.json")
    args = ap.parse_args()

    from rich.console import Console

    quiet = Console(quiet=True)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts <= {"zero-cost", "minilm"}:
        raise SystemExit(f"--parts: unknown part(s) {sorted(parts - {'zero-cost', 'minilm'})}")
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report: dict = {"n_items": args.n_items, "queries_per_task": args.queries}
    if "zero-cost" not in parts:  # kept as last measured, with its own settings
        report = {k: previous[k] for k in ("n_items", "queries_per_task", "build_mock_s", "zero_cost")
                  if k in previous}
        if "zero_cost" not in report:
            raise SystemExit(f"--parts without zero-cost needs a previous zero_cost part in {args.out}")
        report["zero_cost"].setdefault("created_at", previous.get("created_at"))  # older files: one stamp
    if "minilm" not in parts:
        if "minilm" not in previous:
            raise SystemExit(f"--parts without minilm needs a previous minilm part in {args.out}")
        report["minilm"] = previous["minilm"]
        report["minilm"].setdefault("created_at", previous.get("created_at"))
    with tempfile.TemporaryDirectory(prefix="ugb_bench_") as tmp:
        tmp = Path(tmp)
        if "zero-cost" in parts:
            _zero_cost(args, tmp, quiet, report)
        if "minilm" in parts:
            _minilm(args, tmp, quiet, report)
    _print_and_write(args, report)


def _zero_cost(args, tmp: Path, quiet, report: dict) -> None:
    """Stage 1: every task on a big mock with a model that costs nothing (absolute harness cost)."""
    from ugbench.evaluation import evaluate
    from ugbench.testing import build_mock_ugdata

    stamp = _stamp()
    t0 = time.perf_counter()
    data = build_mock_ugdata(tmp / "big", n_places=args.n_items // 2, n_query_places=args.queries,
                             n_candidates=10)
    report["build_mock_s"] = time.perf_counter() - t0
    model = Precomputed(_all_ids(data))
    t0 = time.perf_counter()
    with timed_bootstrap() as boot:
        res = evaluate(model, data, tasks="all", output=tmp / "out", cache_dir=tmp / "cache", batch_size=256,
                       show_progress=False, console=quiet)
    wall = time.perf_counter() - t0
    st = _stages(res)
    report["zero_cost"] = {**stamp, "wall_s": wall, "tasks": len(res), "stages_s": st,
                           "bootstrap_s": boot["_total"], "bootstrap_calls": int(boot["_calls"]),
                           "bootstrap_s_by_data_task": {k: v for k, v in boot.items() if not k.startswith("_")},
                           "per_task": {r["task"]["name"]: r["provenance"]["timings_s"] for r in res},
                           "corpus_sizes": {r["task"]["name"]: max(s.get("n_documents", s.get("n_items", 0))
                                                                   for s in r["scores"].values())
                                            for r in res}}
    t0 = time.perf_counter()
    evaluate(model, data, tasks="all", output=tmp / "out2", cache_dir=tmp / "cache", batch_size=256,
             show_progress=False, console=quiet)
    report["zero_cost"]["rerun_from_cache_wall_s"] = time.perf_counter() - t0
    report["zero_cost"]["loadavg_after"] = list(os.getloadavg())


def _minilm(args, tmp: Path, quiet, report: dict) -> None:
    """Stage 2: the real MiniLM on the text-side tasks: the share of a run that is not the model's forward."""
    from ugbench.evaluation import evaluate
    from ugbench.testing import build_mock_ugdata

    stamp = _stamp()
    small = build_mock_ugdata(tmp / "small", n_places=args.minilm_places, n_candidates=10)
    tasks = ["geoloc_rank", "grounding_nearest_poi", "grounding_distance_direction", "retrieval_caption2image",
             "retrieval_caption2image_global"]
    t0 = time.perf_counter()
    with timed_bootstrap() as boot:
        res = evaluate("minilm", small, tasks=tasks, output=tmp / "out3", cache_dir=None, batch_size=128,
                       show_progress=False, console=quiet)
    wall = time.perf_counter() - t0
    st = _stages(res)
    fwd = st["model_forward"]
    model_load = float(res[0]["provenance"]["timings_s"].get("model_load", 0.0))  # once per evaluate()
    report["minilm"] = {**stamp, "places": args.minilm_places, "tasks": tasks, "wall_s": wall, "stages_s": st,
                        "model_forward_s": fwd, "model_load_s": model_load, "harness_s": st["total"] - fwd,
                        "harness_fraction": (st["total"] - fwd) / st["total"],
                        "harness_fraction_wall": (wall - fwd) / wall,
                        "harness_fraction_wall_without_model_load": (wall - fwd - model_load) / wall,
                        "bootstrap_s": boot["_total"], "bootstrap_calls": int(boot["_calls"]),
                        "bootstrap_fraction_wall": boot["_total"] / wall,
                        "loadavg_after": list(os.getloadavg())}


def _print_and_write(args, report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    z = report["zero_cost"]
    table = Table(title="UGBench harness overhead")
    table.add_column("run")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for k in ("load", "encode", "model_forward", "score", "total"):
        table.add_row(f"zero-cost, {z['tasks']} tasks, {report['n_items']:,} items", k, f"{z['stages_s'].get(k, 0):.2f}")
    table.add_row("zero-cost, rerun from cache", "wall", f"{z['rerun_from_cache_wall_s']:.2f}")
    if "bootstrap_s" in z:
        table.add_row("zero-cost", "bootstrap intervals (inside score)", f"{z['bootstrap_s']:.2f}")
    m = report["minilm"]
    for k in ("load", "encode", "model_forward", "score", "total"):
        table.add_row(f"MiniLM, {len(m['tasks'])} tasks, {m['places']} places", k, f"{m['stages_s'][k]:.2f}")
    table.add_row("MiniLM", "harness share (total - forward) / total", f"{100 * m['harness_fraction']:.1f}%")
    if "harness_fraction_wall" in m:
        table.add_row("MiniLM", "wall clock of evaluate()", f"{m['wall_s']:.2f}")
        table.add_row("MiniLM", "harness share of wall (wall - forward) / wall", f"{100 * m['harness_fraction_wall']:.1f}%")
        table.add_row("MiniLM", "... not counting the model's loading",
                      f"{100 * m['harness_fraction_wall_without_model_load']:.1f}%")
        table.add_row("MiniLM", "bootstrap intervals (inside score)",
                      f"{m['bootstrap_s']:.2f} ({100 * m['bootstrap_fraction_wall']:.2f}% of wall)")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from ugcore.atomic import write_json_atomic
    from ugcore.provenance import hardware, utc_now

    report["hardware"] = hardware()
    report["created_at"] = utc_now()
    write_json_atomic(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
