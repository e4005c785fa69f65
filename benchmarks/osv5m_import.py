"""OSV-5M zip-shard import throughput, offline: `ugdata fetch osv5m` on a generated copy in the published layout.

Generates ROOT/train.csv with --rows metadata rows (the published 32 columns; --images of them inside the area,
the rest spread over the world) and ROOT/images/train/00.zip holding the --images JPEGs (--size px, noisy street-
like pictures, so sizes are realistic), then imports the area in a fresh process and reports:

- metadata scan: rows/s of the streamed CSV filter (the real train.csv has ~4.9 M rows, 2.9 GB);
- import: images/s read out of the shard, verified (decoded) and written (atomically, fsync'd), end to end
  (scan included), with 1 and with 4 writer threads;
- peak memory: the importing process's peak RSS, and its increase over the RSS after imports.

Writes benchmarks/results/osv5m_import.json. `run_osv5m_import` is also what benchmarks/fetch_throughput.py calls.

    .venv/bin/python benchmarks/osv5m_import.py --images 2000 --rows 200000
"""

from __future__ import annotations

import csv
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import typer

from ugdata.fetch.osv5m import COLUMNS

RESULTS = Path(__file__).parent / "results" / "osv5m_import.json"
AREA = (24.90, 60.15, 24.98, 60.19)  # W, S, E, N (central Helsinki)
HEADER = list(COLUMNS)  # the published 32 columns


def _jpeg(rng: random.Random, size: tuple[int, int]) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    w, h = size
    g = np.random.default_rng(rng.randrange(1 << 30))
    sky = np.linspace(200, 120, h // 2)[:, None, None] * np.ones((1, w, 3))
    road = np.linspace(90, 60, h - h // 2)[:, None, None] * np.ones((1, w, 3))
    img = np.concatenate([sky, road]) + g.normal(0, 18, (h, w, 3))
    for _ in range(6):  # facades
        x0 = g.integers(0, w - 20)
        img[h // 5: h // 2 + 10, x0: x0 + g.integers(20, w // 3)] = g.integers(40, 220, 3)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def make_copy(root: Path, n_images: int, n_rows: int, size: tuple[int, int], seed: int = 0) -> dict:
    rng = random.Random(seed)
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    (root / "images" / "test").mkdir(parents=True, exist_ok=True)
    w, s, e, n = AREA
    inside = set(rng.sample(range(n_rows), n_images))
    t0 = time.perf_counter()
    with open(root / "train.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(HEADER)
        for i in range(n_rows):
            if i in inside:
                lat, lon = rng.uniform(s, n), rng.uniform(w, e)
            else:
                lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
                if w <= lon <= e and s <= lat <= n:
                    lon += 1.0
            vid = str(1_000_000_000_000_000 + i)
            wr.writerow([vid, f"{lat:.9f}", f"{lon:.9f}", f"https://scontent.example/{vid}.jpg", "FI", f"seq{i}",
                         str(1_600_000_000_000 + i * 1000), "57", "83", "(57, 83)", "Uusimaa", "Helsingin seutukunta",
                         "Helsinki", "8", "4.5", "1", "16", "3", "0.001", *["7"] * 7, "Uusimaa_FI",
                         "Helsingin seutukunta_Uusimaa_FI", "Helsinki_Uusimaa_FI", "FI", f"user{i % 97}",
                         str(10_000 + i % 97)])
    with open(root / "test.csv", "w", newline="") as fh:
        csv.writer(fh).writerow(HEADER)
    t_csv = time.perf_counter() - t0
    t0 = time.perf_counter()
    with zipfile.ZipFile(root / "images" / "train" / "00.zip", "w", zipfile.ZIP_STORED) as zf:
        for i in sorted(inside):
            zf.writestr(f"{1_000_000_000_000_000 + i}.jpg", _jpeg(rng, size))
        for i in range(max(0, 2 * n_images)):  # other members of the shard (not in the area): never read
            if i not in inside:
                zf.writestr(f"{1_000_000_000_000_000 + i}.jpg", b"\xff\xd8\xff" + b"\x00" * 64)
    return {"csv_bytes": (root / "train.csv").stat().st_size,
            "shard_bytes": (root / "images" / "train" / "00.zip").stat().st_size,
            "generate_csv_s": round(t_csv, 2), "generate_shard_s": round(time.perf_counter() - t0, 2)}


_WORKER = r"""
import json, resource, sys, time
from pathlib import Path
from ugdata.fetch.area import Area
from ugdata.fetch.osv5m import fetch_osv5m, scan_metadata
root, out, area = Path(sys.argv[1]), Path(sys.argv[2]), tuple(json.loads(sys.argv[3]))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter(); cands, counts = scan_metadata(root / "train.csv", area, "train"); t_scan = time.perf_counter() - t0
t0 = time.perf_counter()
one = fetch_osv5m(root, Area(area, {"bbox": list(area)}), out.with_name("one"), split="train", min_spacing_m=0,
                  workers=1)
t_one = time.perf_counter() - t0
t0 = time.perf_counter()
meta = fetch_osv5m(root, Area(area, {"bbox": list(area)}), out, split="train", min_spacing_m=0, workers=4)
t_all = time.perf_counter() - t0
t0 = time.perf_counter()
again = fetch_osv5m(root, Area(area, {"bbox": list(area)}), out, split="train", min_spacing_m=0)
t_resume = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": counts["rows"], "in_area": counts["in_area"], "scan_s": t_scan, "import_s": t_all,
                  "import_1_s": t_one, "kept_1": one["counts"]["kept"],
                  "kept": meta["counts"]["kept"], "rejected": meta["counts"]["rejected"], "resume_s": t_resume,
                  "resumed": again["counts"]["resumed"], "rss_after_imports_mb": base, "peak_rss_mb": peak}))
"""


def run_osv5m_import(n_images: int = 2000, n_rows: int = 200_000, size: tuple[int, int] = (512, 384),
                     work: Path | None = None) -> dict:
    """Generate the copy, import it in a fresh process, and return the measurements (see module docstring)."""
    with tempfile.TemporaryDirectory(prefix="osv5m-bench-", dir=work) as tmp:
        root, out = Path(tmp) / "osv5m", Path(tmp) / "out"
        gen = make_copy(root, n_images, n_rows, size)
        proc = subprocess.run([sys.executable, "-c", _WORKER, str(root), str(out), json.dumps(list(AREA))],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        img_bytes = sum(p.stat().st_size for p in (out / "images").iterdir())
    return {
        "images": n_images, "metadata_rows": n_rows, "image_px": list(size), **gen,
        "mean_image_kb": round(img_bytes / max(1, r["kept"]) / 1024, 1),
        "scan_rows_per_s": round(r["rows"] / r["scan_s"]),
        "import_images_per_s": round(r["kept"] / r["import_s"], 1),
        "import_images_per_s_1_worker": round(r["kept_1"] / r["import_1_s"], 1),
        "import_s": round(r["import_s"], 2), "scan_s": round(r["scan_s"], 2), "workers": 4,
        "kept": r["kept"], "rejected": r["rejected"],
        "resume_s": round(r["resume_s"], 2), "resumed": r["resumed"],
        "peak_rss_mb": round(r["peak_rss_mb"], 1),
        "peak_rss_over_imports_mb": round(r["peak_rss_mb"] - r["rss_after_imports_mb"], 1),
        "projected_full_train_scan_min": round(4.9e6 / (r["rows"] / r["scan_s"]) / 60, 1),
    }


def main(images: int = typer.Option(2000, help="JPEGs inside the area (all in one shard)."),
         rows: int = typer.Option(200_000, help="Metadata rows in train.csv."),
         size: int = typer.Option(512, help="Image width in px (height 3/4 of it)."),
         write: bool = typer.Option(True, help="Write benchmarks/results/osv5m_import.json.")) -> None:
    from ugcore.atomic import write_json_atomic
    from ugcore.provenance import git_commit, hardware, utc_now, versions

    res = run_osv5m_import(images, rows, (size, int(math.ceil(size * 3 / 4))))
    print(json.dumps(res, indent=2))
    if write:
        write_json_atomic(RESULTS, {"benchmark": "osv5m_import", "result": res, "hardware": hardware(),
                                    "versions": versions(), "git_commit": git_commit(), "created_at": utc_now()})


if __name__ == "__main__":
    typer.run(main)
