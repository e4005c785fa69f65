"""A small OSV-5M copy in the published layout (huggingface.co/datasets/osv5m/osv5m), for offline tests.

    ROOT/train.csv, ROOT/test.csv   the published 32-column header (the loading script osv5m.py's column list)
    ROOT/images/train/00.zip        <id>.jpg members at the top level
    ROOT/images/train/01.zip        members inside a folder (train/<id>.jpg): both namings occur in copies
    ROOT/images/test/00.zip

Rows lie on real streets of the embedded Helsinki extract inside ugdata.testing.SMALL_CLIP (midpoints of street
edges), so the import goes through `ugdata build` and anchors. Planted problems, named in `Layout`:
rows with bad coordinates (text, empty, out of range), rows far outside the area (Paris), one corrupt JPEG member,
one id that is in train.csv but in no shard, and a sequence of views 2 m apart (thinned by --min-spacing-m).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ugdata.fetch.osv5m import COLUMNS

HEADER = list(COLUMNS)  # the published 32 columns

T0_MS = 1_625_140_800_000  # 2021-07-01T12:00:00Z in epoch milliseconds (Mapillary's captured_at unit)


@dataclass
class Layout:
    root: Path
    train_ok: list[str] = field(default_factory=list)  # in area, good image, kept (before thinning/--max)
    test_ok: list[str] = field(default_factory=list)
    thinned: list[str] = field(default_factory=list)  # in area, 2 m after a kept view of the same sequence
    corrupt: str = ""
    missing: str = ""
    bad_coordinates: int = 0
    outside: list[str] = field(default_factory=list)
    creators: dict[str, str] = field(default_factory=dict)


def street_points(n: int) -> list[tuple[float, float, float]]:
    """n (lat, lon, bearing) points in the middle of distinct street edges inside SMALL_CLIP."""
    import math

    from ugdata.osm_source import load_osm
    from ugdata.testing import SMALL_CLIP

    G = load_osm(clip=SMALL_CLIP).graph
    w, s, e, nn = SMALL_CLIP
    out, seen = [], set()
    for u, v, d in sorted(G.edges(data=True), key=lambda t: (str(t[0]), str(t[1]))):
        if (v, u) in seen or (u, v) in seen:
            continue
        seen.add((u, v))
        geom = d.get("geometry")
        if geom is not None:
            p = geom.interpolate(0.5, normalized=True)
            lon, lat = p.x, p.y
        else:
            lon = (G.nodes[u]["x"] + G.nodes[v]["x"]) / 2
            lat = (G.nodes[u]["y"] + G.nodes[v]["y"]) / 2
        if not (w + 5e-4 < lon < e - 5e-4 and s + 3e-4 < lat < nn - 3e-4):
            continue
        dx = (G.nodes[v]["x"] - G.nodes[u]["x"]) * math.cos(math.radians(lat))
        dy = G.nodes[v]["y"] - G.nodes[u]["y"]
        out.append((lat, lon, math.degrees(math.atan2(dx, dy)) % 360))
        if len(out) == n:
            return out
    raise AssertionError(f"only {len(out)} street points in SMALL_CLIP")


def jpeg(i: int, size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    img = Image.new("RGB", size, ((37 * i) % 256, (91 * i) % 256, (151 * i) % 256))
    for x in range(0, size[0], 8):  # some structure, so that every image decodes to different pixels
        img.putpixel((x, (i * 7 + x) % size[1]), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _row(vid: str, lat, lon, *, seq: str, t_ms: int, creator: str, city: str = "Helsinki") -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update({
        "id": vid, "latitude": str(lat), "longitude": str(lon),
        "thumb_original_url": f"https://scontent.example/{vid}.jpg", "country": "FI", "sequence": seq,
        "captured_at": str(t_ms), "lon_bin": "57", "lat_bin": "83", "cell": "(57, 83)", "region": "Uusimaa",
        "sub-region": "Helsingin seutukunta", "city": city, "land_cover": "8", "road_index": "4.5",
        "drive_side": "1", "climate": "16", "soil": "3", "dist_sea": "0.001", "unique_region": "Uusimaa_FI",
        "unique_sub-region": "Helsingin seutukunta_Uusimaa_FI", "unique_city": f"{city}_Uusimaa_FI",
        "unique_country": "FI", "creator_username": creator, "creator_id": "1000" + vid[-4:],
    })
    for q in ("5000", "25000", "1000", "50000", "12500", "500", "2500"):
        row[f"quadtree_10_{q}"] = "7"
    return row


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER)
        w.writeheader()
        w.writerows(rows)


def make_osv5m(root: Path, n_train: int = 14, n_test: int = 4) -> Layout:
    """Write the copy under root (see module docstring) and say what is where."""
    import math

    root.mkdir(parents=True, exist_ok=True)
    lay = Layout(root)
    pts = street_points(n_train + n_test)
    train_rows, test_rows = [], []
    members: dict[str, bytes] = {}
    k = 0
    for i, (lat, lon, _) in enumerate(pts[:n_train]):
        vid = str(3_859_149_887_400_000 + i)  # 16-digit Mapillary-style ids
        creator = f"mapper{i % 3}"
        train_rows.append(_row(vid, f"{lat:.9f}", f"{lon:.9f}", seq=f"seq{i:02d}", t_ms=T0_MS + i * 1000,
                               creator=creator))
        members[vid] = jpeg(k := k + 1)
        lay.train_ok.append(vid)
        lay.creators[vid] = creator
    # a sequence of 3 views 2 m apart along the first point's street: with 5 m spacing the 2nd and 3rd go
    lat0, lon0, bearing = pts[0]
    for j in (1, 2):
        vid = str(3_859_149_887_500_000 + j)
        dlat = 2.0 * j * math.cos(math.radians(bearing)) / 111_320.0
        dlon = 2.0 * j * math.sin(math.radians(bearing)) / (111_320.0 * math.cos(math.radians(lat0)))
        train_rows.append(_row(vid, f"{lat0 + dlat:.9f}", f"{lon0 + dlon:.9f}", seq="seq00",
                               t_ms=T0_MS + j * 100, creator="mapper0"))
        members[vid] = jpeg(k := k + 1)
        lay.thinned.append(vid)
        lay.creators[vid] = "mapper0"
    # planted problems
    lay.corrupt = lay.train_ok.pop(3)
    members[lay.corrupt] = members[lay.corrupt][:40] + b"\x00" * 200  # a JPEG header and then garbage
    lay.missing = lay.train_ok.pop(5)
    del members[lay.missing]
    for vid, lat, lon in (("3859149887600001", "not-a-number", "24.94"), ("3859149887600002", "", "24.94"),
                          ("3859149887600003", "123.5", "24.94")):
        train_rows.append(_row(vid, lat, lon, seq="seqbad", t_ms=T0_MS, creator="mapper9"))
        lay.bad_coordinates += 1
    for i in range(3):  # far outside the area (Paris), with images that must never be read
        vid = str(3_859_149_887_700_000 + i)
        train_rows.append(_row(vid, f"{48.8566 + i * 1e-3:.6f}", "2.3522", seq=f"paris{i}", t_ms=T0_MS,
                               creator="parisien", city="Paris"))
        members[vid] = jpeg(k := k + 1)
        lay.outside.append(vid)
    for i, (lat, lon, _) in enumerate(pts[n_train:]):
        vid = str(3_859_149_887_800_000 + i)
        test_rows.append(_row(vid, f"{lat:.9f}", f"{lon:.9f}", seq=f"tseq{i}", t_ms=T0_MS + i,
                              creator="tester"))
        lay.test_ok.append(vid)
        lay.creators[vid] = "tester"
    _write_csv(root / "train.csv", train_rows)
    _write_csv(root / "test.csv", test_rows)
    for split in ("train", "test"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
    train_ids = sorted(i for i in members if i not in lay.test_ok)
    half = len(train_ids) // 2
    with zipfile.ZipFile(root / "images" / "train" / "00.zip", "w", zipfile.ZIP_STORED) as zf:
        for vid in train_ids[:half]:
            zf.writestr(f"{vid}.jpg", members[vid])
    with zipfile.ZipFile(root / "images" / "train" / "01.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/", b"")
        for vid in train_ids[half:]:
            zf.writestr(f"train/{vid}.jpg", members[vid])
    with zipfile.ZipFile(root / "images" / "test" / "00.zip", "w", zipfile.ZIP_STORED) as zf:
        for vid in lay.test_ok:
            zf.writestr(f"{vid}.jpg", jpeg(k := k + 1))
    return lay
