"""Ingest user street views: a metadata table (CSV/TSV, Parquet, GeoJSON) plus images, or EXIF-tagged images.

Why one validating loader: every later stage (anchoring, splits, tasks) assumes clean rows, and a user's
table is rarely clean. Each row either becomes a view or lands in the rejects with a reason that names the
file, the row and what is wrong; nothing is dropped silently. Only problems with the table as a whole
(missing file, unreadable format, missing required columns) fail the call outright.

Conventions
-----------
- ``row`` is the 1-based record number in its file (the first data row / feature is 1; for CSV that is
  line 2 of the file). Rows read from EXIF have row 0 and ``source`` = the image file.
- Reasons read ``"<kind>: <detail>"``; the kind before the colon is what summaries count by.
- Headings outside [0, 360) are *normalised* modulo 360 (-90 -> 270, 360 -> 0): real exports use both
  conventions and the direction is unambiguous. Non-numeric or infinite headings are rejected.
- Missing heading / fov are NaN ("unknown"), missing captured_at is "". Numeric captured_at values (epoch
  seconds, or milliseconds as in Mapillary's ``captured_at``) become ISO-8601 UTC strings.
- Image lookup: an explicit ``path``/``file`` column (relative to the images folder, else to the table's
  folder) wins; otherwise ``<id>.<ext>`` anywhere under the images folder (or, with no images folder,
  directly in the table's folder) for ext in IMAGE_EXTENSIONS. Every found image is fully decoded
  (``Image.open(...).load()``), so truncated or corrupt files are rejected here, not halfway through a build.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ugcore.errors import DataError, UserError
from ugdata.format import REJECT_COLUMNS

STAGE = "views"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".geojson", ".json")

ROW_COLUMNS = (
    "image_id",
    "lat",
    "lon",
    "heading",
    "fov",
    "captured_at",
    "city",
    "image_path",
    "source",
    "row",
    "license",
    "creator",
    "attribution_url",
    "provider",
)
# The per-image licence fields (ugdata/licenses.py): optional, "" when the table has none. ``provider`` is the
# image source the table names (mapillary, osv5m, ...); ``source`` is the file a row came from (for rejects).
LICENSE_FIELDS = ("license", "creator", "attribution_url", "provider")

# Canonical field -> accepted column names (case-insensitive), first match wins. Covers Mapillary
# (id, computed_compass_angle / compass_angle, captured_at in epoch ms) and OSV-5M (id or mapillary_id,
# latitude/longitude or lat/lon) exports.
ALIASES: dict[str, tuple[str, ...]] = {
    "image_id": ("image_id", "id", "key", "mapillary_id", "photo_id", "pano_id", "imageid"),
    "lat": ("lat", "latitude", "gps_lat", "gps_latitude"),
    "lon": ("lon", "lng", "long", "longitude", "gps_lon", "gps_lng", "gps_longitude"),
    "heading": ("heading", "compass_angle", "computed_compass_angle", "yaw", "bearing", "direction"),
    "fov": ("fov", "field_of_view", "hfov"),
    "captured_at": ("captured_at", "timestamp", "captured_time", "datetime", "taken_at", "date"),
    "city": ("city",),
    "path": ("path", "file", "filename", "file_name", "image_path", "filepath", "file_path"),
    "license": ("license", "licence", "license_name"),
    "creator": ("creator", "author", "username", "creator_username"),
    "attribution_url": ("attribution_url", "link", "url", "page_url"),
    "provider": ("provider", "source"),
}
REQUIRED = ("image_id", "lat", "lon")

# EXIF tags (PIL numbers): GPS IFD pointer and its fields, Exif IFD pointer, DateTimeOriginal, DateTime.
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_GPS_IMG_DIRECTION = 17
_DATETIME_ORIGINAL = 36867
_DATETIME = 306


@dataclass
class ViewsResult:
    """Usable views (``rows``, columns ROW_COLUMNS) and every unusable input (``rejects``, REJECT_COLUMNS)."""

    rows: pd.DataFrame
    rejects: pd.DataFrame
    table: Path | None = None
    images: Path | None = None
    ignored_files: list[str] = field(default_factory=list)

    def reject_counts(self) -> dict[str, int]:
        """Rejects counted by kind (the part of the reason before the first colon), most common first."""
        return dict(Counter(_kind(r) for r in self.rejects["reason"]).most_common())

    def summary(self) -> str:
        """A few lines for the CLI: where the views came from, how many are usable, why others were not."""
        src = str(self.table) if self.table is not None else f"EXIF of images in {self.images}"
        lines = [f"views: {len(self.rows)} usable from {src}"]
        if len(self.rows):
            cities = sorted({c for c in self.rows["city"] if c})
            with_heading = int(self.rows["heading"].notna().sum())
            lines.append(
                f"  {with_heading}/{len(self.rows)} with a heading"
                + (f"; cities: {', '.join(cities[:5])}{' ...' if len(cities) > 5 else ''}" if cities else "")
            )
        if len(self.rejects):
            counts = ", ".join(f"{n} {k}" for k, n in self.reject_counts().items())
            lines.append(f"  {len(self.rejects)} rejected ({counts}); see the rejects report for each row")
        if self.ignored_files:
            lines.append(
                f"  {len(self.ignored_files)} non-image files ignored (e.g. {self.ignored_files[0]})"
            )
        return "\n".join(lines)


def _kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def load_views(table: Path | None, images: Path | None, *, city: str | None = None) -> ViewsResult:
    """Read and validate street views from a metadata table and/or an images folder.

    table: CSV/TSV, Parquet or GeoJSON with id, lat, lon (+ optional heading, fov, captured_at, city, path, and
    the per-image licence fields license, creator, attribution_url, provider: see ugdata/licenses.py).
    images: folder holding the image files; with no table, its images' EXIF GPS tags give the positions.
    city: city name for rows that have none.
    Raises UserError for a missing file/folder or missing required columns, DataError for an unreadable
    table or when no usable row remains (that DataError carries the full ViewsResult as ``.result``, so
    the caller can still write the rejects report).
    """
    if table is None and images is None:
        raise UserError(
            "no street views given: pass a metadata table (CSV, Parquet, GeoJSON) and/or an images folder"
        )
    table = Path(table) if table is not None else None
    images = Path(images) if images is not None else None
    if images is not None and not images.is_dir():
        raise UserError(f"{images}: images folder not found (give the folder that holds the image files)")
    if table is not None:
        if not table.is_file():
            raise UserError(f"{table}: metadata table not found")
        raw = _read_table(table)
        if raw.empty:
            raise DataError(f"{table}: the table has no data rows (only a header)")
        # Without an images folder, look next to the table only (not recursively: the table may sit in a
        # big folder such as a home directory).
        image_dir = images if images is not None else table.parent
        result = _validate_table(raw, table, image_dir, city or "", recursive=images is not None)
        result.images = images
        where = table.name
    else:
        assert images is not None
        result = _load_exif_folder(images, city or "")
        where = f"{images} (EXIF)"
    if result.rows.empty:
        counts = ", ".join(f"{n} {k}" for k, n in result.reject_counts().items()) or "no rows at all"
        msg = f"{where}: no usable street views ({len(result.rejects)} rejected: {counts})"
        if len(result.rejects):
            first = result.rejects.iloc[0]
            at = f"row {first['row']}" if first["row"] else Path(first["source"]).name
            msg += f"; first: {at}: {first['reason']}"
        err = DataError(msg)
        err.result = result  # type: ignore[attr-defined]  # lets a CLI still write the rejects report
        raise err
    return result


# --- reading tables ---------------------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    """Read the table into a DataFrame with canonical column names and a 1-based ``row`` column."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise UserError(
            f"{path}: unsupported table format '{suffix}'; use CSV (.csv/.tsv), Parquet (.parquet) or GeoJSON (.geojson)"
        )
    if suffix in (".geojson", ".json"):
        df = _read_geojson(path)
    elif suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several unrelated types for bad files
            raise DataError(f"{path}: cannot read as Parquet ({type(e).__name__}: {e})") from e
    else:
        try:
            df = pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,  # keep ids such as '007' or 18-digit Mapillary keys exactly as written
                keep_default_na=False,
                encoding="utf-8-sig",
                skipinitialspace=True,
            )
        except pd.errors.EmptyDataError as e:
            raise DataError(f"{path}: the table is empty (expected a header with id, lat, lon)") from e
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
            raise DataError(
                f"{path}: cannot read as CSV ({e}); check quoting and the column count of each line"
            ) from e
        df = df.fillna("")  # short lines give NaN even with keep_default_na=False
        if len(df.columns) == 1:
            head = str(df.columns[0])
            for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
                if sep in head and sep != ("\t" if suffix == ".tsv" else ","):
                    expected = "tabs" if suffix == ".tsv" else "commas"
                    raise DataError(f"{path}: the columns are separated by {name}, not {expected} (header "
                                    f"'{head[:60]}'); save the table as comma-separated CSV"
                                    + (" or name it .tsv" if sep == "\t" else ""))
    return _canonical_columns(df, path)


def _read_geojson(path: Path) -> pd.DataFrame:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read as GeoJSON ({e})") from e
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise DataError(f"{path}: expected a GeoJSON FeatureCollection with a 'features' list")
    if not doc["features"]:
        raise DataError(f"{path}: the FeatureCollection has no features (expected one Point per street view)")
    records: list[dict[str, Any]] = []
    for feature in doc["features"]:
        rec: dict[str, Any] = {}
        if isinstance(feature, dict):
            props = feature.get("properties") or {}
            if isinstance(props, dict):
                rec.update(props)
            if feature.get("id") is not None:
                rec["__feature_id"] = feature["id"]
            geom = feature.get("geometry")
            if isinstance(geom, dict) and geom.get("type") == "Point":
                coords = geom.get("coordinates")
                if isinstance(coords, list) and len(coords) >= 2:
                    rec["lon"], rec["lat"] = coords[0], coords[1]  # GeoJSON order is lon, lat
                else:
                    rec["__geometry_error"] = "Point without two coordinates"
            elif not any(k.lower() in ALIASES["lat"] for k in rec):
                gtype = geom.get("type") if isinstance(geom, dict) else None
                rec["__geometry_error"] = f"geometry is not a Point (got {gtype})"
        else:
            rec["__geometry_error"] = "feature is not a JSON object"
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    if "lat" not in df.columns:
        # Geometry gives lat/lon; only complain about a missing column when no feature had a Point.
        df["lat"], df["lon"] = np.nan, np.nan
    return df


def _canonical_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    lower: dict[str, str] = {}
    for col in df.columns:
        lower.setdefault(str(col).strip().lower(), col)
    out = pd.DataFrame(index=df.index)
    for canon, names in ALIASES.items():
        # A GeoJSON Feature's own "id" member is the last resort for the id.
        sources = [lower[n] for n in names if n in lower] + (["__feature_id"] * (canon == "image_id"))
        sources = [c for c in sources if c in df.columns]
        if sources:
            # Coalesce in alias order: GeoJSON features may each name a field differently (heading / yaw).
            col = df[sources[0]]
            for other in sources[1:]:
                col = col.where(col.map(_as_text) != "", df[other])
            out[canon] = col
        elif canon in REQUIRED:
            found = ", ".join(str(c) for c in df.columns if not str(c).startswith("__")) or "none"
            alias_hint = "; ".join(f"{c}: {'/'.join(ALIASES[c])}" for c in REQUIRED)
            raise UserError(
                f"{path.name}: missing column '{canon if canon != 'image_id' else 'id'}' (found: {found}); "
                f"the table needs id, lat, lon (accepted names: {alias_hint})"
            )
    if "__geometry_error" in df.columns:
        out["__geometry_error"] = df["__geometry_error"]
    out["row"] = np.arange(1, len(df) + 1)
    return out.reset_index(drop=True)


# --- validating rows --------------------------------------------------------------------------------------


def _as_text(v: Any) -> str:
    """Cell -> string without float artefacts (Parquet ints with NaNs come back as 12.0)."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer():
            return str(int(v))
    if isinstance(v, (np.floating,)):
        return _as_text(float(v))
    return str(v).strip()


def _as_float(v: Any) -> tuple[float, bool]:
    """(value, ok): empty -> (nan, True); unparsable -> (nan, False)."""
    if isinstance(v, bool):
        return math.nan, False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v), True
    s = _as_text(v)
    if s == "":
        return math.nan, True
    try:
        return float(s), True
    except ValueError:
        return math.nan, False


def captured_at_iso(v: Any) -> str:
    """captured_at cell -> ISO-8601 UTC: epoch milliseconds (Mapillary's unit) or seconds; other text kept."""
    s = _as_text(v)
    if not s:
        return ""
    try:
        num = float(s)
    except ValueError:
        return s
    if not math.isfinite(num):
        return ""
    seconds = num / 1000.0 if abs(num) > 1e11 else num  # Mapillary: epoch milliseconds
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return s  # not an epoch after all: keep what the user wrote


def _index_images(folder: Path, recursive: bool) -> dict[str, Path]:
    """stem (relative, '/'-separated, without extension) and bare stem -> file, extensions in priority order.

    One directory walk instead of a stat per row and extension: 100k rows x 7 extensions would be 700k stats.
    """
    found: dict[str, Path] = {}
    rank = {ext: i for i, ext in enumerate(IMAGE_EXTENSIONS)}
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = [p for p in candidates if p.suffix.lower() in rank and p.is_file()]
    files.sort(key=lambda p: (len(p.relative_to(folder).parts), rank[p.suffix.lower()], str(p)))
    for p in files:
        rel = p.relative_to(folder).with_suffix("").as_posix()
        found.setdefault(rel, p)
        found.setdefault(p.stem, p)  # shallowest file wins for a bare id
    return found


def _decode_error(path: Path) -> str | None:
    """None if the image fully decodes, else the decoder's complaint."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.width < 1 or im.height < 1:
                return "image has no pixels"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def _check_images(paths: list[Path]) -> list[str | None]:
    # Decoding is C code that releases the GIL, so threads give a real speed-up on big folders.
    workers = min(8, os.cpu_count() or 1)
    if len(paths) < 8 or workers == 1:
        return [_decode_error(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_decode_error, paths))


def _validate_table(
    raw: pd.DataFrame, table: Path, image_dir: Path, default_city: str, *, recursive: bool
) -> ViewsResult:
    source = str(table)
    rejects: list[tuple[str, int, str, str, str]] = []
    index = _index_images(image_dir, recursive) if image_dir.is_dir() else {}
    seen: dict[str, int] = {}
    pending: list[dict[str, Any]] = []

    def reject(row: int, image_id: str, reason: str) -> None:
        rejects.append((source, row, image_id, STAGE, reason))

    has = raw.columns.__contains__
    for rec in raw.to_dict("records"):
        row = int(rec["row"])
        image_id = _as_text(rec.get("image_id"))
        if not image_id:
            reject(row, "", f"empty id: {table.name} row {row} has no value in the id column")
            continue
        if image_id in seen:
            reject(
                row,
                image_id,
                f"duplicate id: '{image_id}' already used at row {seen[image_id]} (only the first row of an id is used; give each view its own id)",
            )
            continue
        seen[image_id] = row
        geom_err = _as_text(rec.get("__geometry_error")) if has("__geometry_error") else ""
        if geom_err:
            reject(row, image_id, f"bad geometry: {geom_err}")
            continue
        coords = {}
        bad = None
        for name, lo, hi in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0)):
            value, ok = _as_float(rec.get(name))
            if not ok:
                bad = f"invalid {name}: {_as_text(rec.get(name))!r} is not a number"
            elif math.isnan(value):
                bad = f"missing {name}: the {name} cell is empty or NaN"
            elif not lo <= value <= hi:
                bad = f"{name} out of range: {value} is not in [{lo:g}, {hi:g}]"
            if bad:
                break
            coords[name] = value
        if bad:
            reject(row, image_id, bad)
            continue
        heading, ok = _as_float(rec.get("heading")) if has("heading") else (math.nan, True)
        if not ok or math.isinf(heading):
            reject(
                row,
                image_id,
                f"invalid heading: {_as_text(rec.get('heading'))!r} is not a finite number of degrees",
            )
            continue
        if not math.isnan(heading):
            heading %= 360.0  # normalised, see the module docstring
        fov, ok = _as_float(rec.get("fov")) if has("fov") else (math.nan, True)
        if not ok or (not math.isnan(fov) and not 0.0 < fov <= 360.0):
            reject(row, image_id, f"invalid fov: {_as_text(rec.get('fov'))!r} is not a number in (0, 360]")
            continue
        explicit = _as_text(rec.get("path")) if has("path") else ""
        if explicit:
            p = Path(explicit)
            if not p.is_absolute():
                p = image_dir / p
            if not p.is_file():
                reject(row, image_id, f"image file not found: {p}")
                continue
        else:
            p = index.get(image_id)
            if p is None:
                exts = ",".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
                reject(row, image_id, f"image file not found: no {image_id}.{{{exts}}} under {image_dir}")
                continue
        row_city = _as_text(rec.get("city")) if has("city") else ""
        pending.append(
            {
                "image_id": image_id,
                "lat": coords["lat"],
                "lon": coords["lon"],
                "heading": heading,
                "fov": fov,
                "captured_at": captured_at_iso(rec.get("captured_at")) if has("captured_at") else "",
                "city": row_city or default_city,
                "image_path": str(p.resolve()),
                "source": source,
                "row": row,
                **{k: _as_text(rec.get(k)) if has(k) else "" for k in LICENSE_FIELDS},
            }
        )
    rows = []
    for rec, err in zip(pending, _check_images([Path(r["image_path"]) for r in pending]), strict=True):
        if err is None:
            rows.append(rec)
        else:
            reject(rec["row"], rec["image_id"], f"undecodable image: {rec['image_path']}: {err}")
    return ViewsResult(rows=_rows_frame(rows), rejects=_rejects_frame(rejects), table=table)


# --- EXIF-only folders ------------------------------------------------------------------------------------


def _rational(v: Any) -> float:
    if isinstance(v, tuple) and len(v) == 2:  # old-style (num, den)
        return v[0] / v[1] if v[1] else math.nan
    return float(v)


def _dms_to_deg(dms: Iterable[Any], ref: Any) -> float:
    parts = [_rational(x) for x in dms]
    while len(parts) < 3:
        parts.append(0.0)
    deg = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    ref = ref.decode() if isinstance(ref, bytes) else str(ref or "")
    return -deg if ref.strip().upper() in ("S", "W") else deg


def read_exif_position(path: Path) -> dict[str, Any]:
    """lat, lon, heading (NaN if absent), captured_at ('' if absent) from an image's EXIF.

    Raises KeyError when there is no GPS position and ValueError when it is malformed.
    """
    with Image.open(path) as im:
        exif = im.getexif()
    gps = exif.get_ifd(_GPS_IFD)
    if _GPS_LAT not in gps or _GPS_LON not in gps:
        raise KeyError("no GPSLatitude/GPSLongitude tags")
    try:
        lat = _dms_to_deg(gps[_GPS_LAT], gps.get(_GPS_LAT_REF, "N"))
        lon = _dms_to_deg(gps[_GPS_LON], gps.get(_GPS_LON_REF, "E"))
        heading = _rational(gps[_GPS_IMG_DIRECTION]) if _GPS_IMG_DIRECTION in gps else math.nan
    except (TypeError, ValueError, ZeroDivisionError, IndexError) as e:
        raise ValueError(f"malformed GPS tags ({e})") from e
    stamp = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME) or ""
    stamp = stamp.decode(errors="replace") if isinstance(stamp, bytes) else str(stamp)
    captured = ""
    if stamp.strip():
        try:
            captured = datetime.strptime(stamp.strip()[:19], "%Y:%m:%d %H:%M:%S").strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        except ValueError:
            captured = stamp.strip()
    return {"lat": lat, "lon": lon, "heading": heading, "captured_at": captured}


def _load_exif_folder(folder: Path, default_city: str) -> ViewsResult:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    image_files = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    ignored = [str(p.relative_to(folder)) for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    rejects: list[tuple[str, int, str, str, str]] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    errors = _check_images(image_files)
    for p, err in zip(image_files, errors, strict=True):
        image_id = p.relative_to(folder).with_suffix("").as_posix()
        source = str(p)

        def reject(reason: str, image_id: str = image_id, source: str = source) -> None:
            rejects.append((source, 0, image_id, STAGE, reason))

        if image_id in seen:
            reject(
                f"duplicate id: '{image_id}' already used by {seen[image_id].name} (only the first file of an id is used; rename one of them)"
            )
            continue
        seen[image_id] = p
        if err is not None:
            reject(f"undecodable image: {p}: {err}")
            continue
        try:
            pos = read_exif_position(p)
        except KeyError:
            reject(
                "no EXIF GPS position: the image has no GPSLatitude/GPSLongitude; give a metadata table instead"
            )
            continue
        except ValueError as e:
            reject(f"bad EXIF GPS: {e}")
            continue
        if not (math.isfinite(pos["lat"]) and -90.0 <= pos["lat"] <= 90.0):
            reject(f"lat out of range: EXIF latitude {pos['lat']} is not in [-90, 90]")
            continue
        if not (math.isfinite(pos["lon"]) and -180.0 <= pos["lon"] <= 180.0):
            reject(f"lon out of range: EXIF longitude {pos['lon']} is not in [-180, 180]")
            continue
        heading = pos["heading"]
        rows.append(
            {
                "image_id": image_id,
                "lat": pos["lat"],
                "lon": pos["lon"],
                "heading": heading % 360.0 if math.isfinite(heading) else math.nan,
                "fov": math.nan,
                "captured_at": pos["captured_at"],
                "city": default_city,
                "image_path": str(p.resolve()),
                "source": source,
                "row": 0,
                **dict.fromkeys(LICENSE_FIELDS, ""),
            }
        )
    return ViewsResult(
        rows=_rows_frame(rows),
        rejects=_rejects_frame(rejects),
        table=None,
        images=folder,
        ignored_files=ignored,
    )


# --- frames -----------------------------------------------------------------------------------------------

_ROW_DTYPES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "image_id": lambda s: s.astype(str),
    "lat": lambda s: s.astype("float64"),
    "lon": lambda s: s.astype("float64"),
    "heading": lambda s: s.astype("float64"),
    "fov": lambda s: s.astype("float64"),
    "captured_at": lambda s: s.astype(str),
    "city": lambda s: s.astype(str),
    "image_path": lambda s: s.astype(str),
    "source": lambda s: s.astype(str),
    "row": lambda s: s.astype("int64"),
    **{k: (lambda s: s.astype(str)) for k in LICENSE_FIELDS},
}


def _rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(ROW_COLUMNS))
    for col, cast in _ROW_DTYPES.items():
        df[col] = cast(df[col])
    return df


def _rejects_frame(rejects: list[tuple[str, int, str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rejects, columns=list(REJECT_COLUMNS))
    df["row"] = df["row"].astype("int64")
    for col in ("source", "image_id", "stage", "reason"):
        df[col] = df[col].astype(str)
    return df
