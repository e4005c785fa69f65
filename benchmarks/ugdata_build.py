"""Benchmark `ugdata build` at city scale (not a test: prints a table, writes benchmarks/results/ugdata_build.json).

    .venv/bin/python benchmarks/ugdata_build.py [--osm FILE] [--points 100000] [--out-json PATH]

1. Build from /work/shared/data/osm/vancouver.osm.pbf when present (else the embedded Helsinki extract)
   with 100,000 synthetic view points, metadata only (no rendering, one view per point), >= 100,000
   reasoning paths. Wall time and peak RSS per stage come from the build's own stage timer.
   Targets: <= 120 s in all, <= 6 GB.
2. Route generation speed-up: the builder's batched scipy.sparse.csgraph routes vs a per-pair
   networkx.shortest_path loop over the same pairs on the same street graph (sample). Target >= 50x.
3. Rendering throughput (images/s) of synthetic views, separately, from a small real build.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VANCOUVER = Path("/work/shared/data/osm/vancouver.osm.pbf")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_build(osm: Path | None, points: int, tmp: Path, seed: int) -> dict:
    from ugdata.build import BuildConfig, build_ugdata
    from ugdata.format import load

    cfg = BuildConfig(osm=[str(osm)] if osm else [], synth=points, views_per_point=1, render=False, seed=seed,
                      graphml=True, max_routes=20_000)
    t0 = time.perf_counter()
    c0 = time.process_time()
    out = build_ugdata(tmp / "big", cfg, log=lambda s: print(f"  [{time.perf_counter() - t0:7.1f}s] {s}", flush=True))
    wall = time.perf_counter() - t0
    cpu_total = time.process_time() - c0
    m = load(out).manifest
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    srp = bench_srp_vs_networkx(out, m, seed)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu_total, 2), "stages_s": m["timings_s"], "stages_cpu_s": m["cpu_s"], "peak_rss_mb_after_stage": m["peak_rss_mb"],
            "counts": m["counts"], "splits": m["splits"], "output_mb": round(size / 2**20, 1),
            "write_s_estimate": round(wall - sum(m["timings_s"].values()), 2), "srp_vs_networkx": srp}


def bench_srp_vs_networkx(out: Path, manifest: dict, seed: int, n: int = 200) -> dict:
    """Reasoning paths: the builder's batched walk sampler (CPU per path, from the build) vs a per-pair
    networkx.shortest_path loop between the same (start image, end node) pairs on the same graph."""
    import networkx as nx
    import pandas as pd

    edges = pd.read_parquet(out / "graph" / "edges.parquet", columns=["src", "dst"])
    paths = pd.read_parquet(out / "paths" / "paths.parquet", columns=["node_ids"])
    G = nx.Graph()
    G.add_edges_from(zip(edges.src.tolist(), edges.dst.tolist(), strict=True))
    sample = paths.sample(n=min(n, len(paths)), random_state=seed).node_ids.tolist()
    c0 = time.process_time()
    for ids in sample:
        nx.shortest_path(G, ids[0], ids[-1])  # unweighted (BFS): networkx's fastest variant
    nx_cpu = (time.process_time() - c0) / len(sample)
    ours = manifest["cpu_s"]["reasoning_paths"] / max(manifest["counts"]["paths"], 1)
    return {"pairs": len(sample), "networkx_cpu_ms_per_pair": round(1000 * nx_cpu, 4),
            "builder_cpu_ms_per_path": round(1000 * ours, 4), "speedup": round(nx_cpu / max(ours, 1e-12), 1),
            "note": "builder = S2 sampling + batched 1-3 hop walks + text for every path (CPU of the stage / "
                    "paths); networkx = shortest_path between each sampled path's start and end node"}


def bench_routes(osm: Path | None, n_pairs: int, seed: int, n_nx: int = 300) -> dict:
    """Same pairs, same street graph: batched csgraph (the builder's code) vs networkx per pair."""
    import networkx as nx
    import pandas as pd

    from ugdata.anchor import anchor_points, sample_street_points
    from ugdata.osm_source import load_osm
    from ugdata.routes import compute_routes, pick_route_pairs
    from ugdata.streets import build_street_layer

    data = load_osm(osm)
    layer = build_street_layer(data.graph)
    pts = sample_street_points(layer, 20_000, seed)
    a = anchor_points(layer, pts.lon, pts.lat, 25.0)
    p = pd.DataFrame({"image_id": pts.point.astype(str), "lat": pts.lat, "lon": pts.lon, "split": "train",
                      "city": data.city})
    pairs = pick_route_pairs(p, seed=seed, per_point=1, min_m=100, max_m=800)
    pairs = pairs.sample(n=min(n_pairs, len(pairs)), random_state=seed).sort_values(["src", "dst"])
    src, dst = pairs.src.to_numpy(), pairs.dst.to_numpy()
    c0 = time.process_time()
    res = compute_routes(layer, data.city, a.seg, a.t_m, pts.lon.to_numpy(), pts.lat.to_numpy(), src, dst, limit_m=2400)
    t_batch = time.process_time() - c0
    # networkx on the same undirected street graph (shortest parallel segment per node pair), node to node
    G = nx.Graph()
    for u, v, w in zip(layer.segs.u_idx, layer.segs.v_idx, layer.segs.length_m, strict=True):
        if u != v and (not G.has_edge(u, v) or G.edges[u, v]["length"] > w):
            G.add_edge(int(u), int(v), length=float(w))
    U = layer.segs.u_idx.to_numpy()
    sub = np.random.default_rng(seed).choice(len(src), size=min(n_nx, len(src)), replace=False)
    c0 = time.process_time()
    for s, d in zip(src[sub], dst[sub], strict=True):
        with contextlib.suppress(nx.NetworkXNoPath):
            nx.shortest_path(G, int(U[a.seg[s]]), int(U[a.seg[d]]), weight="length")
    t_nx = (time.process_time() - c0) / len(sub)
    found = sum(r is not None for r in res)
    per = t_batch / len(src)
    return {"pairs": int(len(src)), "networkx_sample": int(len(sub)), "routes_found": int(found),
            "batched_cpu_s": round(t_batch, 3), "batched_cpu_ms_per_pair": round(1000 * per, 4),
            "networkx_cpu_ms_per_pair": round(1000 * t_nx, 4), "speedup": round(t_nx / max(per, 1e-12), 1),
            "note": "batched = the builder's compute_routes (4 end combinations per pair, predecessor walk, "
                    "turn-by-turn steps and text included); networkx = one shortest_path call per pair between "
                    "segment end nodes (path only), CPU seconds"}


def bench_render(tmp: Path) -> dict:
    from ugdata.format import load
    from ugdata.testing import small_build

    out = small_build(tmp / "render", n_views=400, seed=0, synth_size=128)
    m = load(out).manifest
    secs = m["timings_s"]["images"]
    return {"images": m["counts"]["images"], "size_px": 128, "seconds": secs,
            "images_per_s": round(m["counts"]["images"] / max(secs, 1e-9), 1),
            "note": "render_view + PNG encoding, one process"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--osm", type=Path, default=VANCOUVER if VANCOUVER.is_file() else None)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--route-pairs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-json", type=Path, default=ROOT / "benchmarks" / "results" / "ugdata_build.json")
    ap.add_argument("--skip-render", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="ugdata-bench-"))
    try:
        print(f"build: {args.osm or 'embedded Helsinki'}, {args.points} synthetic points (metadata only)")
        build = bench_build(args.osm, args.points, tmp, args.seed)
        print("routes: batched csgraph vs networkx per pair")
        routes = bench_routes(args.osm, args.route_pairs, args.seed)
        render = None if args.skip_render else bench_render(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak = peak_rss_mb()
    result = {
        "benchmark": "ugdata_build",
        "input": str(args.osm) if args.osm else "embedded:helsinki",
        "points": args.points,
        "build": build,
        "routes_vs_networkx": routes,
        "render": render,
        "process_peak_rss_mb": round(peak, 1),
        "targets": {"total_s": 120, "total_cpu_s": 120, "peak_gb": 6, "route_speedup": 50, "min_paths": 100_000},
        "pass": {"total_s": build["wall_s"] <= 120, "total_cpu_s": build["cpu_s"] <= 120, "peak_gb": peak / 1024 <= 6,
                 "route_speedup": routes["speedup"] >= 50,
                 "srp_speedup": build["srp_vs_networkx"]["speedup"] >= 50, "min_paths": build["counts"]["paths"] >= 100_000},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
    }
    print()
    print(f"{'stage':<18}{'wall s':>10}{'CPU s':>10}{'peak RSS MB':>14}")
    for k, v in build["stages_s"].items():
        print(f"{k:<18}{v:>10.2f}{build['stages_cpu_s'].get(k, float('nan')):>10.2f}"
              f"{build['peak_rss_mb_after_stage'].get(k, float('nan')):>14.0f}")
    print(f"{'TOTAL':<18}{build['wall_s']:>10.2f}{build['cpu_s']:>10.2f}{peak:>14.0f}")
    c = build["counts"]
    print(f"\nimages {c['images']}  nodes {c['nodes']}  edges {c['edges']}  paths {c['paths']}  routes {c['routes']}")
    print(f"write (wall, estimated): {build['write_s_estimate']} s")
    srp = build["srp_vs_networkx"]
    print(f"reasoning paths: builder {srp['builder_cpu_ms_per_path']} CPU ms/path vs networkx.shortest_path "
          f"{srp['networkx_cpu_ms_per_pair']} CPU ms/pair -> {srp['speedup']}x ({srp['pairs']} sampled pairs)")
    print(f"routes: batched {routes['batched_cpu_ms_per_pair']} CPU ms/pair ({routes['pairs']} pairs) vs networkx "
          f"{routes['networkx_cpu_ms_per_pair']} CPU ms/pair ({routes['networkx_sample']} of them) -> {routes['speedup']}x")
    if render:
        print(f"render: {render['images_per_s']} images/s at {render['size_px']} px")
    print(f"pass: {result['pass']}  (1-min load average {result['machine']['load_avg_1m']})")
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {args.out_json}")


if __name__ == "__main__":
    main()
