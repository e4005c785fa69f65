"""`ugdata fetch osv5m`: import the street views of an area from a local copy of OpenStreetView-5M.

The published layout (https://huggingface.co/datasets/osv5m/osv5m, as `snapshot_download` leaves it; the same
paths its loading script osv5m.py reads):

    ROOT/train.csv, ROOT/test.csv       metadata, one row per image: id, latitude, longitude, thumb_original_url,
                                        country, sequence, captured_at, lon_bin, lat_bin, cell, region, sub-region,
                                        city, land_cover, road_index, drive_side, climate, soil, dist_sea,
                                        quadtree_10_*, unique_region, unique_sub-region, unique_city,
                                        unique_country, creator_username, creator_id (train.csv is ~2.9 GB)
    ROOT/images/train/00.zip .. 97.zip  zip shards holding <id>.jpg
    ROOT/images/test/00.zip .. 04.zip

A copy whose shards were extracted (the dataset card's second step) works too: loose <id>.jpg files under
ROOT/images/<split>/ are found as well as zip members.

How the import stays small: the CSV is streamed in chunks (only the columns used are parsed) and filtered by
the area; only the matching members are read out of the zip shards with `zipfile` (no extraction), one shard
open at a time. The member names of each shard are listed once and cached in OUT/.osv5m-index/ (one text file
per shard, keyed by its size and mtime), so a rerun or resume does not walk the central directories again.

Licence: OSV-5M is published under CC BY-SA 4.0 (its dataset card says `license: cc-by-sa-4.0`). Its images
are Mapillary images (the ids are Mapillary image ids, the columns thumb_original_url / creator_username /
creator_id are Mapillary Graph API fields, and the authors credit the Mapillary team), so each row gets
creator = creator_username and attribution_url = the image's Mapillary page.
OSV-5M has no compass angle: heading is unknown (the builder then uses the street's direction only for
anchoring, and fov_index is -1).
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ugcore.atomic import write_text_atomic
from ugcore.errors import DataError, UserError
from ugdata.fetch.area import Area
from ugdata.fetch.output import ViewRecord, ViewWriter, image_file_name
from ugdata.fetch.thin import dedup, thin_sequences
from ugdata.licenses import CC_BY_SA_4
from ugdata.views.load import captured_at_iso

SOURCE = "osv5m"
LICENSE = CC_BY_SA_4
SPLITS = ("train", "test")
INDEX_DIR = ".osv5m-index"
MAPILLARY_PAGE = "https://www.mapillary.com/app/?pKey={id}"
# The published metadata columns, in order (the column list of the dataset's loading script osv5m.py).
COLUMNS = (
    "id", "latitude", "longitude", "thumb_original_url", "country", "sequence", "captured_at", "lon_bin", "lat_bin",
    "cell", "region", "sub-region", "city", "land_cover", "road_index", "drive_side", "climate", "soil", "dist_sea",
    "quadtree_10_5000", "quadtree_10_25000", "quadtree_10_1000", "quadtree_10_50000", "quadtree_10_12500",
    "quadtree_10_500", "quadtree_10_2500", "unique_region", "unique_sub-region", "unique_city", "unique_country",
    "creator_username", "creator_id",
)
REQUIRED = ("id", "latitude", "longitude")
OPTIONAL = ("sequence", "captured_at", "creator_username", "city")
CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Candidate:
    """A metadata row inside the area (what thinning and de-duplication see)."""

    id: str
    lat: float
    lon: float
    sequence: str | None
    captured_at: str
    creator: str | None
    city: str | None
    split: str
    heading: float | None = None


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def check_root(root: Path, splits: tuple[str, ...]) -> None:
    """The published layout is there for `splits` (UserError naming what is missing, and the download)."""
    if not root.is_dir():
        raise UserError(f"--root {root}: folder not found (give the folder of your OSV-5M copy, which holds "
                        "train.csv, test.csv and images/)")
    missing = [f"{s}.csv" for s in splits if not (root / f"{s}.csv").is_file()]
    missing += [f"images/{s}/" for s in splits if not (root / "images" / s).is_dir()]
    if missing:
        raise UserError(f"--root {root} is not an OSV-5M copy: missing {', '.join(missing)}; download it with "
                        "huggingface_hub.snapshot_download(repo_id='osv5m/osv5m', repo_type='dataset', "
                        "local_dir=DIR) (or pass --split test for the test part only)")


def scan_metadata(csv_path: Path, bbox: tuple[float, float, float, float], split: str,
                  chunk_rows: int = CHUNK_ROWS) -> tuple[list[Candidate], dict[str, int]]:
    """Stream `csv_path` in chunks and keep the rows inside bbox (W, S, E, N).

    Returns (candidates, counts) with counts rows (all data rows), bad_coordinates (latitude/longitude missing,
    not a number or out of range: never inside any area) and in_area.
    """
    try:
        header = pd.read_csv(csv_path, nrows=0, encoding="utf-8-sig").columns
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{csv_path}: cannot read the header ({e})") from None
    cols = {str(c).strip().lower(): c for c in header}
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, header))[:200]}); "
                        "is this an OSV-5M metadata file?")
    use = [cols[c] for c in (*REQUIRED, *OPTIONAL) if c in cols]
    w, s, e, n = bbox
    out: list[Candidate] = []
    counts = {"rows": 0, "bad_coordinates": 0, "in_area": 0}
    reader = pd.read_csv(csv_path, usecols=use, dtype=str, keep_default_na=False, chunksize=chunk_rows,
                         encoding="utf-8-sig")
    try:
        for chunk in reader:
            chunk.columns = [str(c).strip().lower() for c in chunk.columns]
            counts["rows"] += len(chunk)
            lat = pd.to_numeric(chunk["latitude"], errors="coerce").to_numpy(float)
            lon = pd.to_numeric(chunk["longitude"], errors="coerce").to_numpy(float)
            ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)
            counts["bad_coordinates"] += int((~ok).sum())
            inside = ok & (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
            if not inside.any():
                continue
            part = chunk[inside]
            get = {c: (part[c].tolist() if c in part.columns else [""] * len(part)) for c in (*REQUIRED, *OPTIONAL)}
            lat_in, lon_in = lat[inside].tolist(), lon[inside].tolist()
            for i, vid in enumerate(get["id"]):
                vid = _text(vid)
                if vid.endswith(".0") and vid[:-2].isdigit():  # an id written through a float column
                    vid = vid[:-2]
                if not vid:  # a row without an id cannot be imported
                    counts["no_id"] = counts.get("no_id", 0) + 1
                    continue
                out.append(Candidate(
                    id=vid, lat=lat_in[i], lon=lon_in[i],
                    sequence=_text(get["sequence"][i]) or None, captured_at=captured_at_iso(get["captured_at"][i]),
                    creator=_text(get["creator_username"][i]) or None, city=_text(get["city"][i]) or None,
                    split=split,
                ))
                counts["in_area"] += 1
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{csv_path}: cannot read as CSV after {counts['rows']} rows ({e})") from None
    return out, counts


# --- the shard index ------------------------------------------------------------------------------------------


def _stamp(p: Path) -> str:
    st = p.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def shard_members(shard: Path, cache_dir: Path) -> list[str]:
    """The member names (files, not folders) of a zip shard, listed once and cached in cache_dir."""
    cache = cache_dir / (hashlib.sha256(str(shard.resolve()).encode()).hexdigest()[:12] + f"-{shard.stem}.txt")
    stamp = _stamp(shard)
    try:
        lines = cache.read_text(encoding="utf-8").split("\n")
        if lines and lines[0] == f"# {stamp}":
            return [ln for ln in lines[1:] if ln]
    except (OSError, UnicodeDecodeError):
        pass
    try:
        with zipfile.ZipFile(shard) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{shard}: not a readable zip shard ({e}); download it again") from None
    write_text_atomic(cache, "\n".join([f"# {stamp}", *names]) + "\n")
    return names


def _stem(member: str) -> str:
    base = member.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def locate(wanted: set[str], images_dir: Path, cache_dir: Path) -> dict[str, tuple[Path, str | None]]:
    """id -> (zip shard, member) or (loose file, None) for the wanted ids found under images_dir."""
    found: dict[str, tuple[Path, str | None]] = {}
    for shard in sorted(images_dir.glob("*.zip")):
        for m in shard_members(shard, cache_dir):
            sid = _stem(m)
            if sid in wanted and sid not in found and m.lower().endswith((".jpg", ".jpeg", ".png")):
                found[sid] = (shard, m)
    if len(found) < len(wanted):
        for p in sorted(images_dir.rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stem in wanted and p.stem not in found:
                found[p.stem] = (p, None)
    return found


def read_members(shard: Path, members: list[tuple[str, str]]) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(id, bytes, None) or (id, None, reason) for each (id, member) of one shard, in the given order."""
    try:
        zf = zipfile.ZipFile(shard)
    except (zipfile.BadZipFile, OSError) as e:
        for vid, _ in members:
            yield vid, None, f"corrupt: shard {shard.name} unreadable ({e})"
        return
    with zf:
        for vid, m in members:
            try:
                yield vid, zf.read(m), None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, ValueError) as e:
                yield vid, None, f"corrupt: {shard.name}:{m}: {str(e)[:120]}"


# --- the import -----------------------------------------------------------------------------------------------


def _pick(items: list[Candidate], max_views: int | None) -> list[Candidate]:
    """At most max_views, chosen by a hash of the id: deterministic and spread over the whole area."""
    if max_views is None or len(items) <= max_views:
        return items
    if max_views < 1:
        raise UserError(f"--max must be at least 1, got {max_views}")
    key = {c.id: hashlib.sha256(c.id.encode()).hexdigest() for c in items}
    chosen = {c.id for c in sorted(items, key=lambda c: key[c.id])[:max_views]}
    return [c for c in items if c.id in chosen]


def _import_shard(writer: ViewWriter, shard: Path, members: list[tuple[str, str]], rec_of: dict[str, ViewRecord],
                  workers: int) -> None:
    """Read the members in one pass over the shard; verify (decode) and write them on `workers` threads (the
    decoder and fsync release the GIL), with a bounded number in flight so memory stays small."""
    if workers <= 1:
        for vid, data, why in read_members(shard, members):
            if data is None:
                writer.reject(vid, why or "corrupt")
            else:
                writer.add(rec_of[vid], data)
        return
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for vid, data, why in read_members(shard, members):
            if data is None:
                writer.reject(vid, why or "corrupt")
                continue
            pending.append(pool.submit(writer.add, rec_of[vid], data))
            if len(pending) >= 4 * workers:
                pending.popleft().result()
        for f in pending:
            f.result()


def fetch_osv5m(root: str | Path, area: Area, out: str | Path, *, split: str = "all", max_views: int | None = None,
                min_spacing_m: float = 5.0, city: str | None = None, chunk_rows: int = CHUNK_ROWS, workers: int = 4,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Import the OSV-5M views inside `area` into OUT (see ugdata.fetch.output). Returns fetch.json's content.

    workers: threads that verify and write images (1 = all in the calling thread)."""
    root, out = Path(root), Path(out)
    if split not in (*SPLITS, "all"):
        raise UserError(f"--split must be train, test or all, got {split!r}")
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if min_spacing_m < 0 or not math.isfinite(min_spacing_m):
        raise UserError(f"--min-spacing-m must be a number >= 0, got {min_spacing_m}")
    splits = SPLITS if split == "all" else (split,)
    check_root(root, splits)
    say = log or (lambda s: None)

    cands: list[Candidate] = []
    counts: dict[str, int] = {"rows": 0, "bad_coordinates": 0, "in_area": 0}
    for s in splits:
        say(f"scanning {s}.csv")
        got, c = scan_metadata(root / f"{s}.csv", area.bbox, s, chunk_rows)
        cands += got
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    kept, dups = dedup(cands)
    kept, thinned = thin_sequences(kept, min_spacing_m)
    kept = _pick(kept, max_views)
    parameters = {"root": root.name, "split": split, "max": max_views, "min_spacing_m": min_spacing_m}
    writer = ViewWriter(out, source=SOURCE, query=area.query, parameters=parameters)
    try:
        todo = [c for c in kept if not writer.is_done(c.id)]
        cache_dir = out / INDEX_DIR
        by_split: dict[str, list[Candidate]] = {}
        for c in todo:
            by_split.setdefault(c.split, []).append(c)
        for s, items in sorted(by_split.items()):
            say(f"locating {len(items)} images in images/{s}")
            where = locate({c.id for c in items}, root / "images" / s, cache_dir)
            per_shard: dict[Path, list[tuple[str, str]]] = {}
            rec_of: dict[str, ViewRecord] = {}
            for c in items:
                rec_of[c.id] = ViewRecord(
                    id=c.id, lat=c.lat, lon=c.lon, heading=None, fov=None, captured_at=c.captured_at,
                    city=city or area.city or c.city, source=SOURCE, license=LICENSE, creator=c.creator,
                    attribution_url=MAPILLARY_PAGE.format(id=c.id), sequence=c.sequence, is_pano=False,
                    file=image_file_name(c.id),
                )
                loc = where.get(c.id)
                if loc is None:
                    writer.reject(c.id, f"missing: {c.id}.jpg is in {s}.csv but in no shard of images/{s}")
                elif loc[1] is None:
                    try:
                        writer.add(rec_of[c.id], loc[0].read_bytes())
                    except OSError as e:
                        writer.reject(c.id, f"unreadable: {loc[0]}: {e}")
                else:
                    per_shard.setdefault(loc[0], []).append((c.id, loc[1]))
            for shard in sorted(per_shard):
                say(f"reading {len(per_shard[shard])} images from {s}/{shard.name}")
                _import_shard(writer, shard, per_shard[shard], rec_of, workers)
        counts.update({"found": counts["in_area"], "duplicates": dups, "thinned": thinned,
                       "over_max": max(0, len(cands) - dups - thinned - len(kept))})
        return writer.finish(counts=counts, ids=[c.id for c in kept])
    finally:
        writer.close()
