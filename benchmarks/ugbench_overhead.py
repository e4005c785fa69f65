"""UGBench harness overhead: how much of an evaluation is NOT the model's own forward pass.

1. Every task (with all variants) on a mock UGData whose corpora hold 100,000 items, with a zero-cost model
   (precomputed embeddings looked up by item id): time per stage (load, encode incl. image decoding and
   caching, score incl. faiss and probes) and the model's own time.
2. The real MiniLM on the text-side tasks of a smaller mock: encode (forward) time vs total.
Target: everything but the model's forward pass <= 10% of the run (stage 2; stage 1 shows the absolute
harness cost with no model at all). Prints a table and writes benchmarks/results/ugbench_overhead.json.

    .venv/bin/python benchmarks/ugbench_overhead.py [--n-items 100000] [--queries 1000] [--minilm-places 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-items", type=int, default=100_000, help="images in the corpus (2 views per place)")
    ap.add_argument("--queries", type=int, default=1000, help="query places per task")
    ap.add_argument("--minilm-places", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ugbench_overhead.json")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from ugbench.evaluation import evaluate
    from ugbench.testing import build_mock_ugdata

    quiet = Console(quiet=True)
    report: dict = {"n_items": args.n_items, "queries_per_task": args.queries}
    with tempfile.TemporaryDirectory(prefix="ugb_bench_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        data = build_mock_ugdata(tmp / "big", n_places=args.n_items // 2, n_query_places=args.queries,
                                 n_candidates=10)
        report["build_mock_s"] = time.perf_counter() - t0
        model = Precomputed(_all_ids(data))
        t0 = time.perf_counter()
        res = evaluate(model, data, tasks="all", output=tmp / "out", cache_dir=tmp / "cache", batch_size=256,
                       show_progress=False, console=quiet)
        wall = time.perf_counter() - t0
        st = _stages(res)
        report["zero_cost"] = {"wall_s": wall, "tasks": len(res), "stages_s": st,
                               "per_task": {r["task"]["name"]: r["provenance"]["timings_s"] for r in res},
                               "corpus_sizes": {r["task"]["name"]: max(s.get("n_documents", s.get("n_items", 0))
                                                                       for s in r["scores"].values())
                                                for r in res}}
        t0 = time.perf_counter()
        evaluate(model, data, tasks="all", output=tmp / "out2", cache_dir=tmp / "cache", batch_size=256,
                 show_progress=False, console=quiet)
        report["zero_cost"]["rerun_from_cache_wall_s"] = time.perf_counter() - t0

        small = build_mock_ugdata(tmp / "small", n_places=args.minilm_places, n_candidates=10)
        tasks = ["geoloc_rank", "grounding_nearest_poi", "grounding_distance_direction", "retrieval_caption2image",
                 "retrieval_caption2image_global"]
        t0 = time.perf_counter()
        res = evaluate("minilm", small, tasks=tasks, output=tmp / "out3", cache_dir=None, batch_size=128,
                       show_progress=False, console=quiet)
        wall = time.perf_counter() - t0
        st = _stages(res)
        fwd = st["model_forward"]
        report["minilm"] = {"places": args.minilm_places, "tasks": tasks, "wall_s": wall, "stages_s": st,
                            "model_forward_s": fwd, "harness_s": st["total"] - fwd,
                            "harness_fraction": (st["total"] - fwd) / st["total"]}

    z = report["zero_cost"]
    table = Table(title="UGBench harness overhead")
    table.add_column("run")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for k in ("load", "encode", "model_forward", "score", "total"):
        table.add_row(f"zero-cost, {z['tasks']} tasks, {args.n_items:,} items", k, f"{z['stages_s'].get(k, 0):.2f}")
    table.add_row("zero-cost, rerun from cache", "wall", f"{z['rerun_from_cache_wall_s']:.2f}")
    m = report["minilm"]
    for k in ("load", "encode", "model_forward", "score", "total"):
        table.add_row(f"MiniLM, {len(m['tasks'])} tasks, {args.minilm_places} places", k, f"{m['stages_s'][k]:.2f}")
    table.add_row("MiniLM", "harness share (total - forward) / total", f"{100 * m['harness_fraction']:.1f}%")
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
