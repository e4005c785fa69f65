"""Benchmark: the global ranking protocol at scale, one query set against 1,000,000 documents of 768-d embeddings.

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/global_retrieval_scale.py          (~5-10 min, needs ~8 GB
      RAM for the unchunked baseline and ~3.1 GB of free disk for the corpus file)
      .venv/bin/python benchmarks/global_retrieval_scale.py --n-docs 100000            (a quick look)

Why: issue #14 asks that global retrieval over large corpora scores in chunks with bounded memory (at most 4 GB
here) and that the harness measures it against an unchunked baseline in the same run. What is timed is the
harness's own code path, not a re-implementation: ugbench.encoding.normalize_rows on both sides (the runner
normalises before scoring), then ugbench.runners.ranking._global_counts (query blocks of
ugcore.ranking.score_blocks, the tie rule's counts), then ugbench.metrics.ranking.count_metrics per query with
the runner's ks and GLOBAL_DEPTH, the means and the runner's bootstrap intervals (ugbench.stats.bootstrap_ci).

Data: a seeded corpus of N x D float32 standard normal vectors, generated chunk by chunk from (seed, chunk index)
and streamed to a .npy file in a temporary folder, so the generator never holds more than one chunk and no
method's peak includes it. Every DUP_EVERY-th document is an exact copy of the one before it, so the tie rule
is exercised at scale: queries aimed at such a pair either count both as relevant (two positives in one tie
group) or only the first (a non-relevant document tied with the positive halves hit@1). Each query is a noisy
copy of its target document, with a per-query noise level drawn so that ranks spread from 1 to beyond 100
(hit@1, MRR and recall@k are neither 0 nor 1).

Methods, each in its own child process (so peak RSS is per method; read from /proc/self/status VmHWM, reset
per stage through /proc/self/clear_refs, so each stage's own peak is known too):
- `unchunked`: the baseline: the full corpus in memory, ONE (queries x documents) float32 score matrix from a
  single numpy matmul, then per query ugcore.ranking.tie_counts over its full row (no blocks anywhere).
- `harness`: the runner's global path exactly as it is (see above); since this benchmark's first run the runner
  L2-normalises the encoder's fresh arrays in place in row blocks (normalize_rows(..., inplace=True)): the old
  copying normalisation allocated a second corpus-sized array and peaked at 6.27 GB here.
- `harness_4x_block`: the same with score blocks of 4 x ugcore.ranking.BLOCK_ELEMENTS scores (64 instead of 16
  queries per block at 10^6 documents): what a larger block would buy in time and cost in memory.
The run asserts that all methods give identical tie counts for every positive (hence identical metrics).

Prints a table and writes benchmarks/results/global_retrieval_scale.json (machine, versions, git commit and load
average before and after, since the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")

DUP_EVERY = 100  # document i with i % DUP_EVERY == 1 is an exact copy of document i - 1
GB = 10**9  # decimal, as the target ("at most 4 GB")
METHODS = ("unchunked", "harness", "harness_4x_block")
PATH_STAGES = ("normalize", "score", "metrics")  # the scoring path; "load" is the hand-over (page-cache bound)


# --------------------------------------------------------------------------------------------- data generation
def _chunk(seed: int, index: int, rows: int, dim: int, first: int) -> np.ndarray:
    """Chunk `index` of the corpus (documents first .. first + rows - 1): a pure function of (seed, index)."""
    x = np.random.default_rng([seed, index]).standard_normal((rows, dim), dtype=np.float32)
    dup = np.flatnonzero((np.arange(first, first + rows) % DUP_EVERY == 1) & (np.arange(rows) > 0))
    x[dup] = x[dup - 1]
    return x


def generate(folder: Path, *, n_docs: int, dim: int, n_queries: int, chunk_docs: int, seed: int) -> dict:
    """Write corpus.npy (streamed chunk by chunk), queries.npy and positives.json; return a description.

    Queries alternate between targets that have an exact twin (i % DUP_EVERY == 0) and uniform targets; a
    query aimed at a twin pair lists both as positives every other time. Noise: q = d / |d| + s * g / sqrt(D)
    with g standard normal and s uniform on [2, 8], so cos(q, target) ~ 1 / sqrt(1 + s^2) spans 0.45 .. 0.12
    against ~0.18 for the best of 10^6 random documents."""
    rng = np.random.default_rng([seed, 1 << 20])
    twins = np.arange(0, n_docs - 1, DUP_EVERY)
    targets = np.where(np.arange(n_queries) % 2 == 0, rng.choice(twins, n_queries), rng.integers(0, n_docs, n_queries))
    sigma = rng.uniform(2.0, 8.0, n_queries).astype(np.float32)
    noise = rng.standard_normal((n_queries, dim), dtype=np.float32)
    queries = np.empty((n_queries, dim), dtype=np.float32)
    path = folder / "corpus.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n_docs, dim)})
        for index, first in enumerate(range(0, n_docs, chunk_docs)):
            x = _chunk(seed, index, min(chunk_docs, n_docs - first), dim, first)
            hit = np.flatnonzero((targets >= first) & (targets < first + len(x)))
            t = x[targets[hit] - first]
            queries[hit] = t / np.linalg.norm(t, axis=1, keepdims=True) + sigma[hit, None] * noise[hit] / np.sqrt(dim)
            f.write(x.tobytes())
    np.save(folder / "queries.npy", queries)
    positives = [[int(t), int(t) + 1] if i % 4 == 0 and t % DUP_EVERY == 0 else [int(t)] for i, t in enumerate(targets)]
    (folder / "positives.json").write_text(json.dumps(positives))
    return {"corpus_bytes": path.stat().st_size, "twin_pairs": int(len(twins)),
            "queries_with_a_twin_target": int(np.sum(targets % DUP_EVERY == 0)),
            "queries_with_two_positives": int(sum(len(p) == 2 for p in positives))}


# ------------------------------------------------------------------------------------------- child measurement
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next reading is one stage's own peak."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Stages:
    """Wall time, CPU time (all threads), peak RSS and RSS after, per stage of one child process."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    def run(self, name: str, fn: Callable[[], object]) -> object:
        _reset_peak()
        w, c = time.perf_counter(), _cpu_s()
        out = fn()
        self.rows[name] = {"wall_s": time.perf_counter() - w, "cpu_s": _cpu_s() - c,
                           "peak_rss_bytes": _status_kib("VmHWM") * 1024, "rss_after_bytes": _status_kib("VmRSS") * 1024}
        return out


def _full_counts(qe: np.ndarray, de: np.ndarray, pos_idx: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """The baseline: one (queries x documents) matrix, then each query's tie counts over its full row."""
    from ugcore.ranking import tie_counts

    scores = qe @ de.T
    out = []
    for r, p in enumerate(pos_idx):
        v = scores[r, p]
        b, m = tie_counts(scores[r], v)
        out.append((b, m, np.count_nonzero(v[:, None] == v[None, :], axis=1)))
    return out


def child(method: str, folder: Path, out: Path) -> None:
    """One method end to end in this process; writes its timings, peaks, metrics and tie counts to `out`."""
    import pandas as pd

    from ugbench.encoding import normalize_rows
    from ugbench.metrics.ranking import DEFAULT_KS, count_metrics
    from ugbench.runners.ranking import GLOBAL_DEPTH, _global_counts
    from ugbench.stats import bootstrap_ci

    start_rss = _status_kib("VmRSS") * 1024
    st = Stages()
    de = st.run("load", lambda: np.load(folder / "corpus.npy"))  # the encoder's hand-over: embeddings in RAM
    qe = np.load(folder / "queries.npy")
    pos_idx = [np.asarray(p, dtype=np.int64) for p in json.loads((folder / "positives.json").read_text())]
    if method == "unchunked":
        qe, de = st.run("normalize", lambda: (normalize_rows(qe), normalize_rows(de)))
    else:  # exactly the runner's call
        qe, de = st.run("normalize", lambda: (normalize_rows(qe, inplace=True), normalize_rows(de, inplace=True)))
    n = len(qe)
    if method.endswith("_4x_block"):  # the runner calls score_blocks by this name; only this process is patched
        import functools

        import ugbench.runners.ranking as runner
        from ugcore.ranking import BLOCK_ELEMENTS, score_blocks

        runner.score_blocks = functools.partial(score_blocks, max_elements=4 * BLOCK_ELEMENTS)
    if method == "unchunked":
        counts = st.run("score", lambda: _full_counts(qe, de, pos_idx))
    else:
        counts = st.run("score", lambda: _global_counts(qe, de, pos_idx, None, np.arange(n), np.arange(len(de)),
                                                        None, GLOBAL_DEPTH))

    def metrics() -> tuple[dict[str, float], dict[str, list[float]]]:
        pq = pd.DataFrame([count_metrics(*c, len(p), DEFAULT_KS, GLOBAL_DEPTH)
                           for c, p in zip(counts, pos_idx, strict=True)])
        values = {c: pq[c].to_numpy(np.float64) for c in pq.columns}
        return {c: float(pq[c].mean()) for c in pq.columns}, bootstrap_ci(values, seed=0, keys=("scale", "test"))

    means, ci = st.run("metrics", metrics)
    flat = {k: np.concatenate([c[i] for c in counts]).astype(np.int64).tolist() for i, k in
            enumerate(("n_better", "n_tied", "n_pos_tied"))}
    out.write_text(json.dumps({"method": method, "stages": st.rows, "start_rss_bytes": start_rss,
                               "blas_threads": os.environ.get("OMP_NUM_THREADS"), "metrics": means,
                               "ci95": ci, "counts": flat}))


# --------------------------------------------------------------------------------------------------- the run
def _measure(method: str, folder: Path) -> dict:
    """Run one method in a fresh interpreter; add its end-to-end wall and CPU time (children's rusage)."""
    out = folder / f"{method}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--child", method, "--folder", str(folder), "--child-out", str(out)],
                   check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = json.loads(out.read_text())
    row["process_wall_s"] = wall
    row["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # the stages' peaks cover the whole process: each reset starts from the RSS already held (imports included)
    row["process_peak_rss_bytes"] = max(s["peak_rss_bytes"] for s in row["stages"].values())
    row["path"] = {"wall_s": sum(row["stages"][s]["wall_s"] for s in PATH_STAGES),
                   "cpu_s": sum(row["stages"][s]["cpu_s"] for s in PATH_STAGES),
                   "peak_rss_bytes": max(row["stages"][s]["peak_rss_bytes"] for s in PATH_STAGES)}
    return row


def _iter_rows(rows: list[dict]) -> Iterator[tuple[str, str, dict]]:
    for r in rows:
        for stage, s in r["stages"].items():
            yield r["method"], stage, s
        yield r["method"], "+".join(PATH_STAGES), r["path"]
        yield r["method"], "whole process", {"wall_s": r["process_wall_s"], "cpu_s": r["process_cpu_s"],
                                             "peak_rss_bytes": r["process_peak_rss_bytes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-docs", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--chunk-docs", type=int, default=32768, help="documents per generated chunk")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-gb", type=float, default=4.0, help="peak RSS target of the chunked path (10^9 B)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tmp", default=None, help="folder for the corpus file (default: the system temp folder)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "global_retrieval_scale.json")
    ap.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder, args.child_out)
        return

    from rich.console import Console
    from rich.table import Table

    from ugcore.atomic import write_json_atomic
    from ugcore.provenance import git_commit, hardware, utc_now, versions
    from ugcore.ranking import BLOCK_ELEMENTS

    con = Console(width=140)
    methods = [m for m in args.methods.split(",") if m]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ugb_scale_", dir=args.tmp) as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        data = generate(folder, n_docs=args.n_docs, dim=args.dim, n_queries=args.queries,
                        chunk_docs=args.chunk_docs, seed=args.seed)
        gen_s = time.perf_counter() - t
        con.print(f"generated {args.n_docs:,} x {args.dim} ({data['corpus_bytes'] / GB:.2f} GB) and "
                  f"{args.queries} queries in {gen_s:.1f}s")
        rows = []
        for m in methods:
            rows.append(_measure(m, folder))
            con.print(f"{m}: {rows[-1]['process_wall_s']:.1f}s, peak {rows[-1]['process_peak_rss_bytes'] / GB:.2f} "
                      f"GB (load average {os.getloadavg()[0]:.2f})")

    ref = rows[0]
    identical = {r["method"]: r["counts"] == ref["counts"] for r in rows}
    max_diff = {r["method"]: max(abs(r["metrics"][k] - ref["metrics"][k]) for k in ref["metrics"]) for r in rows}
    for r in rows:
        del r["counts"]
    table = Table(title=f"Global ranking: {args.queries:,} queries x {args.n_docs:,} documents x {args.dim}-d")
    for c in ("method", "stage", "wall s", "CPU s", "peak RSS GB"):
        table.add_column(c, justify="right")
    for method, stage, s in _iter_rows(rows):
        table.add_row(method, stage, f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}", f"{s['peak_rss_bytes'] / GB:.2f}")
    con.print(table)
    con.print("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in ref["metrics"].items()))
    con.print(f"identical tie counts vs {ref['method']}: {identical}; max |metric difference|: {max_diff}")
    target = args.target_gb * GB
    result = {
        "benchmark": "global_retrieval_scale",
        "n_docs": args.n_docs,
        "dim": args.dim,
        "queries": args.queries,
        "seed": args.seed,
        "generator": f"seeded standard normal float32 per (seed, chunk of {args.chunk_docs}); every "
                     f"{DUP_EVERY}th document duplicates the one before; query = noisy copy of a target",
        "data": data,
        "generate_seconds": gen_s,
        "score_block_elements": BLOCK_ELEMENTS,
        "queries_per_block": max(1, BLOCK_ELEMENTS // args.n_docs),
        "target_peak_rss_bytes": int(target),
        "methods": rows,
        "identical_tie_counts": identical,
        "max_abs_metric_difference": max_diff,
        "within_target": {r["method"]: r["process_peak_rss_bytes"] <= target for r in rows},
        "machine": {
            **hardware(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "platform": platform.platform(),
            "mem_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "versions": versions(("numpy", "pandas")),
        "git_commit": git_commit(),
        "created_at": utc_now(),
    }
    con.print(f"peak RSS <= {args.target_gb:g} GB: {result['within_target']}")
    if not all(identical.values()) or max(max_diff.values()) > 1e-9:
        write_json_atomic(args.out.with_suffix(".failed.json"), result)
        raise SystemExit(f"methods disagree: identical={identical}, max |difference|={max_diff}")
    write_json_atomic(args.out, result)
    con.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
