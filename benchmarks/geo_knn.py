"""Benchmark: kNN geo-multimedia search at StreetSem's size (465,360 objects x 768-d), k = 10.

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/geo_knn.py            (about 10-20 min, ~6 GB RAM)
      OMP_NUM_THREADS=2 .venv/bin/python benchmarks/geo_knn.py --n 50000  (a quick look)

Data: ugbench.search.synth.make_corpus (topic clusters + spatial autocorrelation over 40 km x 40 km around
Beijing's centre; its docstring and docs/search.md describe the generator), metric haversine (metres).
In one run, for mu in {0.2, 0.5, 0.8}: brute force single query (numpy), brute force batched (one GEMM per
batch), GMR-Tree (kGMCMS), R-tree baseline, ours exact, ours approximate. Reports p50/p95 latency per query,
queries/s, build time, index memory, exactness against brute force (ids) and recall@k of the approximate
mode. Every engine's timed loop follows one untimed warm-up query. Prints a table and writes benchmarks/results/geo_knn.json. Latencies are wall-clock on a machine
that may be shared: the JSON records the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")


def _lat(fn, queries):
    fn(*queries[0])  # warm-up, untimed: loads the compiled kernels (numba cache) and touches the arrays
    out, times = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(*q))
        times.append(time.perf_counter() - t)
    return out, np.asarray(times)


def _numba_version() -> str | None:
    try:
        import numba
    except ImportError:
        return None
    return numba.__version__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=465_360)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument(
        "--baseline-queries",
        type=int,
        default=10,
        help="queries for the GMR-Tree and R-tree (seconds each at n=465k: 10 keeps the run near 10 min)",
    )
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--mus", default="0.2,0.5,0.8")
    ap.add_argument("--slack", type=float, default=0.02, help="approximate mode slack")
    ap.add_argument("--metric", default="haversine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "geo_knn.json"))
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from ugbench.search.index import GeoIndex
    from ugbench.search.synth import make_corpus
    from ugcore.atomic import write_json_atomic

    con = Console(width=150)
    load_before = os.getloadavg()
    t = time.perf_counter()
    corpus = make_corpus(args.n, args.dim, args.queries, seed=args.seed)
    gen_s = time.perf_counter() - t
    con.print(f"generated {args.n} x {args.dim} in {gen_s:.1f}s")
    t = time.perf_counter()
    idx = GeoIndex.build(corpus.coords, corpus.vectors, metric=args.metric, seed=args.seed)
    build_s = time.perf_counter() - t
    del corpus.vectors
    mem = idx.memory_bytes()
    con.print(f"built in {build_s:.1f}s: {idx.meta}")
    qs = [(corpus.query_coords[i], corpus.query_vectors[i].astype(np.float64)) for i in range(args.queries)]
    nb = min(args.baseline_queries, args.queries)

    rows = []
    for mu in [float(m) for m in args.mus.split(",")]:
        k = args.k
        ref, t_brute = _lat(lambda xy, q, k=k, mu=mu: idx.search(xy, q, k, mu, engine="brute"), qs)
        t = time.perf_counter()
        batch = idx.search_brute_batch([a for a, _ in qs], [b for _, b in qs], k=k, mu=mu)
        t_batch = (time.perf_counter() - t) / len(qs)
        assert all(np.array_equal(a.indices, b.indices) for a, b in zip(ref, batch, strict=True))
        res = {"brute": (ref, t_brute)}
        for engine in ("ours", "ours-approx"):
            res[engine] = _lat(
                lambda xy, q, e=engine, k=k, mu=mu: idx.search(xy, q, k, mu, engine=e, slack=args.slack), qs
            )
        for engine in ("gmr", "rtree"):
            res[engine] = _lat(lambda xy, q, e=engine, k=k, mu=mu: idx.search(xy, q, k, mu, engine=e), qs[:nb])
        for engine, (out, times) in res.items():
            exact = sum(np.array_equal(o.indices, r.indices) for o, r in zip(out, ref, strict=False))
            recall = np.mean([len(np.intersect1d(o.indices, r.indices)) / k for o, r in zip(out, ref, strict=False)])
            scored = [o.stats.get("objects_scored") for o in out if o.stats.get("objects_scored") is not None]
            prefix = [o.stats["objects_prefix"] for o in out if "objects_prefix" in o.stats]
            int8 = [o.stats["objects_int8"] for o in out if "objects_int8" in o.stats]
            rows.append(
                {
                    "mu": mu,
                    "engine": engine,
                    "queries": len(times),
                    "p50_ms": float(np.median(times) * 1e3),
                    "p95_ms": float(np.percentile(times, 95) * 1e3),
                    "qps": float(len(times) / times.sum()),
                    "exact_match_queries": int(exact),
                    "recall_at_k": float(recall),
                    "median_full_vectors_scored": float(np.median(scored)) if scored else None,
                    "median_prefix_rows_read": float(np.median(prefix)) if prefix else None,
                    "median_int8_rows_read": float(np.median(int8)) if int8 else None,
                }
            )
        rows.append(
            {
                "mu": mu, "engine": "brute-batched", "queries": len(qs), "p50_ms": t_batch * 1e3, "p95_ms": None,
                "qps": 1.0 / t_batch, "exact_match_queries": len(qs), "recall_at_k": 1.0,
                "median_full_vectors_scored": float(idx.n), "median_prefix_rows_read": None,
                "median_int8_rows_read": None,
            }
        )
        brute_p50 = next(r["p50_ms"] for r in rows if r["mu"] == mu and r["engine"] == "brute")
        load_now = os.getloadavg()[0]
        for r in rows:
            if r["mu"] == mu:
                r["speedup_vs_brute_p50"] = brute_p50 / r["p50_ms"]
                r["loadavg_1min_after_mu"] = load_now
        con.print(f"mu={mu} done (load average {load_now:.2f})")

    table = Table(title=f"kNN geo-multimedia search: n={idx.n}, dim={idx.dim}, k={args.k}, {args.metric}")
    for c in ("mu", "engine", "queries", "p50 ms", "p95 ms", "q/s", "x brute", "exact", "recall@k", "int8 rows",
              "full vecs"):
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(
            f"{r['mu']:.1f}", r["engine"], str(r["queries"]), f"{r['p50_ms']:.2f}",
            "-" if r["p95_ms"] is None else f"{r['p95_ms']:.2f}", f"{r['qps']:.1f}",
            f"{r['speedup_vs_brute_p50']:.1f}", f"{r['exact_match_queries']}/{r['queries']}",
            f"{r['recall_at_k']:.4f}",
            "-" if r.get("median_int8_rows_read") is None else f"{r['median_int8_rows_read']:.0f}",
            "-" if r["median_full_vectors_scored"] is None else f"{r['median_full_vectors_scored']:.0f}",
        )
    con.print(table)
    result = {
        "benchmark": "geo_knn",
        "n": idx.n,
        "dim": idx.dim,
        "k": args.k,
        "metric": args.metric,
        "approx_slack": args.slack,
        "generator": "ugbench.search.synth.make_corpus",
        "seed": args.seed,
        "generate_seconds": gen_s,
        "build_seconds_total": build_s,
        "build_seconds": {"ours": idx.meta["build_seconds_ours"], "gmr": idx.meta["build_seconds_gmr"]},
        "index_memory_bytes": mem,
        "n_coclusters": idx.cc.n_clusters,
        "gmr_nodes": idx.gmr.n_nodes if idx.gmr else None,
        "rows": rows,
        "machine": {
            "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "note": "brute force uses every BLAS thread; ours runs each query on one thread (numba kernels)",
            "numba": _numba_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
    }
    write_json_atomic(args.out, result)
    con.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
