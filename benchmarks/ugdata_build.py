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


def bench_build(osm: Path | None, points: int, tmp: Path, seed: int, graphml: bool = True) -> dict:
    from ugdata.build import BuildConfig, build_ugdata
    from ugdata.format import load

    cfg = BuildConfig(osm=[str(osm)] if osm else [], synth=points, views_per_point=1, render=False, seed=seed,
                      graphml=graphml, max_routes=20_000)
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
    """Reasoning paths on the built graph: the builder's vectorised walk sampler (node sequences + per-hop
    lengths, all start images at once) vs a per-pair networkx.shortest_path loop between the same (start,
    end) pairs; text/list formatting timed separately."""
    import networkx as nx
    import pandas as pd

    from ugcore.geo import haversine_m
    from ugdata.paths import format_paths, sample_walks

    nodes = pd.read_parquet(out / "graph" / "nodes.parquet")
    edges = pd.read_parquet(out / "graph" / "edges.parquet")
    paths = pd.read_parquet(out / "paths" / "paths.parquet", columns=["node_ids"])
    pos = pd.Series(np.arange(len(nodes)), index=nodes.node_id.to_numpy())
    starts = np.unique(pos.reindex([ids[0] for ids in paths.node_ids]).to_numpy())
    cfg = manifest["config"]
    c0 = time.process_time()
    walks, rel_names = sample_walks(nodes, edges, starts, seed=seed, max_per_image=cfg["max_paths_per_image"])
    P = walks[[f"n{h}" for h in range(4)]].to_numpy()
    lat, lon = nodes.lat.to_numpy(), nodes.lon.to_numpy()
    a, b = np.clip(P[:, :-1], 0, None), np.clip(P[:, 1:], 0, None)
    lengths = np.where(P[:, 1:] >= 0, haversine_m(lat[a], lon[a], lat[b], lon[b]), 0.0).sum(1)
    t_walk = time.process_time() - c0
    c0 = time.process_time()
    formatted = format_paths(walks, nodes, rel_names)
    t_fmt = time.process_time() - c0
    G = nx.Graph()
    G.add_edges_from(zip(edges.src_idx.tolist(), edges.dst_idx.tolist(), strict=True))
    rows = np.random.default_rng(seed).choice(len(walks), size=min(n, len(walks)), replace=False)
    ends = [(int(P[i, 0]), int(P[i, walks.hops.iloc[i]])) for i in rows]
    c0 = time.process_time()
    for s, d in ends:
        nx.shortest_path(G, s, d)  # unweighted (BFS): networkx's fastest variant
    nx_cpu = (time.process_time() - c0) / len(ends)
    per = t_walk / max(len(walks), 1)
    assert np.isfinite(lengths).all() and len(formatted) == len(walks)
    return {"pairs": len(ends), "paths": int(len(walks)), "walk_cpu_s": round(t_walk, 3),
            "walk_cpu_ms_per_path": round(1000 * per, 5), "format_cpu_s": round(t_fmt, 3),
            "format_cpu_ms_per_path": round(1000 * t_fmt / max(len(walks), 1), 5),
            "networkx_cpu_ms_per_pair": round(1000 * nx_cpu, 4), "speedup": round(nx_cpu / max(per, 1e-12), 1),
            "speedup_incl_format": round(nx_cpu / max((t_walk + t_fmt) / max(len(walks), 1), 1e-12), 1),
            "stage_cpu_s": manifest["cpu_s"]["reasoning_paths"],
            "note": "walk = the builder's sample_walks for all start images at once + per-hop lengths (node "
                    "sequences + lengths); networkx = unweighted shortest_path between each sampled walk's start "
                    "and end node; format = text + list columns; CPU seconds"}


def bench_routes(osm: Path | None, n_pairs: int, seed: int, per_source: int = 128, n_nx: int = 300) -> dict:
    """Same pairs, same street graph. Path FINDING (node sequence + length) of the builder's batched
    csgraph code vs one networkx.shortest_path(weight="length") call per pair (+ its length); the builder's
    step/text formatting is timed separately. Pairs are grouped by source as the builder groups them."""
    import networkx as nx
    import pandas as pd

    from ugdata.anchor import anchor_points, sample_street_points
    from ugdata.osm_source import load_osm
    from ugdata.routes import find_routes, format_routes, pick_route_pairs_grouped
    from ugdata.streets import build_street_layer

    data = load_osm(osm)
    layer = build_street_layer(data.graph)
    pts = sample_street_points(layer, 100_000, seed)
    a = anchor_points(layer, pts.lon, pts.lat, 25.0)
    p = pd.DataFrame({"image_id": pts.point.astype(str), "lat": pts.lat, "lon": pts.lon, "split": "train",
                      "city": data.city})
    pairs = pick_route_pairs_grouped(p, seed=seed, n_sources=-(-n_pairs // per_source), per_source=per_source,
                                     min_m=100, max_m=800)
    src, dst = pairs.src.to_numpy(), pairs.dst.to_numpy()
    lon, lat = pts.lon.to_numpy(), pts.lat.to_numpy()
    c0 = time.process_time()
    rp = find_routes(layer, a.seg, a.t_m, src, dst, limit_m=2400)
    t_find = time.process_time() - c0
    c0 = time.process_time()
    res = format_routes(layer, data.city, rp, a.seg, a.t_m, lon, lat, src, dst)
    t_fmt = time.process_time() - c0
    # networkx on the same undirected street graph (shortest parallel segment per node pair, the same
    # weights as the csgraph), between the street nodes where each of our routes enters and leaves the network
    G = nx.Graph()
    for u, v, w in zip(layer.segs.u_idx, layer.segs.v_idx, np.maximum(layer.segs.length_m, 0.01), strict=True):
        if u != v and (not G.has_edge(u, v) or G.edges[u, v]["length"] > w):
            G.add_edge(int(u), int(v), length=float(w))
    cand = np.flatnonzero(rp.found & ~rp.direct)
    sub = np.sort(np.random.default_rng(seed).choice(cand, size=min(n_nx, len(cand)), replace=False))
    ends = [(int(rp.nodes[rp.offsets[i]]), int(rp.nodes[rp.offsets[i + 1] - 1])) for i in sub]
    c0 = time.process_time()
    nx_paths = []
    for s, d in ends:
        path = nx.shortest_path(G, s, d, weight="length")
        nx_paths.append((path, nx.path_weight(G, path, "length")))
    t_nx = (time.process_time() - c0) / max(len(sub), 1)
    # like with like: our node sequences are shortest paths of the same length as networkx's
    worse = sum(1 for i, (_, ln) in zip(sub, nx_paths, strict=True)
                if nx.path_weight(G, rp.node_path(i).tolist(), "length") > ln + 1e-6)
    per = t_find / max(len(src), 1)
    return {"pairs": int(len(src)), "sources": int(len(np.unique(src))), "networkx_sample": int(len(sub)),
            "routes_found": int(rp.found.sum()), "formatted": int(sum(r is not None for r in res)),
            "find_cpu_s": round(t_find, 3), "find_cpu_ms_per_pair": round(1000 * per, 5),
            "format_cpu_s": round(t_fmt, 3), "format_cpu_ms_per_pair": round(1000 * t_fmt / max(len(src), 1), 5),
            "networkx_cpu_ms_per_pair": round(1000 * t_nx, 4), "speedup": round(t_nx / max(per, 1e-12), 1),
            "speedup_incl_format": round(t_nx / max((t_find + t_fmt) / max(len(src), 1), 1e-12), 1),
            "networkx_shorter_than_ours": int(worse),
            "note": "find = the builder's find_routes (virtual source node, one dijkstra tree per source for all "
                    "its destinations, vectorised predecessor walk; node sequences + lengths, point to point); "
                    "networkx = shortest_path + path_weight per pair between the street nodes where our route "
                    "enters and leaves the network (an easier problem); format = steps + text; CPU seconds"}


def bench_render(tmp: Path) -> dict:
    from ugdata.format import load
    from ugdata.testing import small_build

    out = small_build(tmp / "render", n_views=400, seed=0, synth_size=128)
    m = load(out).manifest
    secs = m["timings_s"]["images"]
    return {"images": m["counts"]["images"], "size_px": 128, "seconds": secs,
            "images_per_s": round(m["counts"]["images"] / max(secs, 1e-9), 1),
            "note": "render_view + JPEG (q95) encoding, one process"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--osm", type=Path, default=VANCOUVER if VANCOUVER.is_file() else None)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--route-pairs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-json", type=Path, default=ROOT / "benchmarks" / "results" / "ugdata_build.json")
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--no-graphml", action="store_true", help="skip graph/graph.graphml (optional output)")
    args = ap.parse_args()
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="ugdata-bench-"))
    try:
        print(f"build: {args.osm or 'embedded Helsinki'}, {args.points} synthetic points (metadata only)")
        build = bench_build(args.osm, args.points, tmp, args.seed, graphml=not args.no_graphml)
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
        "graphml": not args.no_graphml,
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
    print(f"reasoning paths: walks {srp['walk_cpu_ms_per_path']} CPU ms/path ({srp['paths']} paths) vs "
          f"networkx.shortest_path {srp['networkx_cpu_ms_per_pair']} CPU ms/pair ({srp['pairs']} pairs) -> "
          f"{srp['speedup']}x; formatting {srp['format_cpu_ms_per_path']} CPU ms/path "
          f"({srp['speedup_incl_format']}x with it)")
    print(f"routes: find {routes['find_cpu_ms_per_pair']} CPU ms/pair ({routes['pairs']} pairs, {routes['sources']} "
          f"sources) vs networkx {routes['networkx_cpu_ms_per_pair']} CPU ms/pair ({routes['networkx_sample']} of "
          f"them) -> {routes['speedup']}x; formatting {routes['format_cpu_ms_per_pair']} CPU ms/pair "
          f"({routes['speedup_incl_format']}x with it); networkx shorter than ours: {routes['networkx_shorter_than_ours']}")
    if render:
        print(f"render: {render['images_per_s']} images/s at {render['size_px']} px")
    print(f"pass: {result['pass']}  (1-min load average {result['machine']['load_avg_1m']})")
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {args.out_json}")


if __name__ == "__main__":
    main()
