"""Street-view source throughput, offline: `ugdata fetch mapillary` against a local stand-in of the API.

Measures (i) fetch planning for a whole-city bbox (coverage-tile enumeration at z14 and bbox-search cells,
no network), and (ii) images per second fetched end to end from a local HTTP server (search or tiles, entity
requests, thumbnail downloads, PIL verification, atomic writes, journal, views.csv), plus a resume run where
every image is already complete. Peak memory is the process's peak RSS (the local server runs in the same
process, so this is an upper bound for the fetcher). Prints a table, writes
benchmarks/results/fetch_throughput.json.

    .venv/bin/python benchmarks/fetch_throughput.py --n 1000 --workers 4

The local server (werkzeug, threaded) shares the CPU with the fetcher, so the numbers are a lower bound of what
the client code can do; the real service's latency and rate limits dominate in practice.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ugcore.atomic import write_json_atomic
from ugcore.provenance import git_commit, hardware, utc_now, versions

RESULTS = Path(__file__).parent / "results" / "fetch_throughput.json"
CITY_BBOX = (24.78, 60.13, 25.25, 60.30)  # Helsinki, for planning
FETCH_BBOX = (24.900, 60.150, 24.990, 60.190)  # ~5 x 4.5 km of central Helsinki, for the fetch runs


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_planning() -> dict:
    from ugdata.fetch.mapillary import plan_tiles, split_bbox

    t0 = time.perf_counter()
    tiles = plan_tiles(CITY_BBOX)
    t_tiles = time.perf_counter() - t0
    t0 = time.perf_counter()
    cells = split_bbox(CITY_BBOX)
    t_cells = time.perf_counter() - t0
    return {"city_bbox": list(CITY_BBOX), "z14_tiles": len(tiles), "tile_plan_ms": round(t_tiles * 1000, 2),
            "bbox_cells": len(cells), "cell_plan_ms": round(t_cells * 1000, 2)}


def bench_mapillary(n: int, workers: int, img_px: int, search: str, tmp: Path) -> dict:
    """n images on sequences along a grid of streets of FETCH_BBOX; fetch them all, then a resume run."""
    from pytest_httpserver import HTTPServer

    from ugdata.fetch.area import Area
    from ugdata.fetch.fake_mapillary import FakeMapillary, jpeg_bytes
    from ugdata.fetch.mapillary import MapillaryOptions, fetch_mapillary

    fake = FakeMapillary(page_size=500)
    w, s, e, nn = FETCH_BBOX
    per_seq = 25
    n_seq = math.ceil(n / per_seq)
    side = math.ceil(math.sqrt(n_seq))
    jpeg = jpeg_bytes((90, 120, 150), (img_px, img_px * 3 // 4))
    for i in range(n):
        q, k = divmod(i, per_seq)
        lat = s + (q // side + 0.5) / side * (nn - s) + k * 10 / 111_320
        lon = w + (q % side + 0.5) / side * (e - w)
        fake.add(str(10_000_000 + i), lat, lon, heading=float((i * 37) % 360), sequence=f"seq{q}",
                 captured_at=1_622_548_800_000 + i * 1000, jpeg=jpeg)
    server = HTTPServer(threaded=True)
    server.start()
    try:
        base = fake.install(server)
        opts = MapillaryOptions(api_url=base, tiles_url=base, search=search, workers=workers, min_spacing_m=0.0,
                                max_requests=10 * n + 1000)
        out = tmp / f"mly_{search}"
        area = Area(FETCH_BBOX, {"bbox": list(FETCH_BBOX)}, "helsinki")
        rss0 = _peak_rss_mb()
        t0 = time.perf_counter()
        meta = fetch_mapillary(area, out, fake.token, opts)
        wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = fetch_mapillary(area, out, fake.token, opts)
        resume = time.perf_counter() - t0
        return {"source": "mapillary", "search": search, "images": n, "kept": meta["counts"]["kept"],
                "requests": meta["requests"], "image_kb": round(len(jpeg) / 1024, 1), "workers": workers,
                "fetch_s": round(wall, 2), "images_per_s": round(meta["counts"]["kept"] / wall, 1),
                "resume_s": round(resume, 2), "resume_requests": again["requests"],
                "peak_rss_mb": round(_peak_rss_mb(), 1), "peak_rss_growth_mb": round(_peak_rss_mb() - rss0, 1)}
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------------
# OSV-5M zip-shard import throughput: added by the OSV-5M importer's author (issue 16). Return a dict with at
# least source="osv5m", images, kept, images_per_s, peak_rss_mb; main() puts it in the same table and JSON.
def bench_osv5m(n: int, tmp: Path) -> dict | None:
    """benchmarks/osv5m_import.py on a generated copy: one shard of 2,000 JPEGs (512x384) and 200,000 metadata
    rows, imported in a fresh process (so its peak RSS is the importer's alone), 4 writer threads."""
    from osv5m_import import run_osv5m_import

    r = run_osv5m_import(n_images=2000, n_rows=200_000, work=tmp)
    return {"source": "osv5m", "images": r["images"], "kept": r["kept"], "images_per_s": r["import_images_per_s"],
            "import_s": r["import_s"], "resume_s": r["resume_s"], "peak_rss_mb": r["peak_rss_mb"], **r}


def main(
    n: int = typer.Option(1000, help="images per fetch run"),
    workers: int = typer.Option(4, help="parallel downloads"),
    img_px: int = typer.Option(256, help="thumbnail width of the served JPEGs"),
    out: Path = typer.Option(RESULTS, help="where to write the JSON results"),
) -> None:
    """Time fetch planning and offline fetch throughput (bbox search and coverage tiles), with peak memory."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the local server's access log
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    load_before = os.getloadavg()[0]
    try:
        planning = bench_planning()
        runs = [bench_mapillary(n, workers, img_px, search, tmp) for search in ("bbox", "tiles")]
        osv = bench_osv5m(n, tmp)
        if osv:
            runs.append(osv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()[0]
    table = Table(title=f"Street-view fetch throughput, offline local server ({n} images, {workers} workers)")
    for col in ("source", "mode", "kept", "requests", "images/s", "fetch s", "resume s", "peak RSS MB"):
        table.add_column(col, justify="right" if col not in ("source", "mode") else "left")
    for r in runs:
        table.add_row(r["source"], r.get("search", "zip shards"), str(r["kept"]), str(r.get("requests", "")),
                      f"{r['images_per_s']:.1f}", f"{r.get('fetch_s', r.get('import_s', 0)):.2f}",
                      f"{r.get('resume_s', 0):.2f}", f"{r['peak_rss_mb']:.1f}")
    console.print(table)
    console.print(f"planning {planning['city_bbox']}: {planning['z14_tiles']} z14 tiles in "
                  f"{planning['tile_plan_ms']} ms; {planning['bbox_cells']} bbox cells in {planning['cell_plan_ms']} ms")
    write_json_atomic(out, {
        "benchmark": "fetch_throughput", "created": utc_now(), "git_commit": git_commit(), "hardware": hardware(),
        "versions": versions(), "load_average_1min": [load_before, load_after], "n_images": n,
        "workers": workers, "planning": planning, "results": runs,
        "note": "local werkzeug server in the same process (shares the CPU); peak RSS includes it",
    })
    console.print(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)
