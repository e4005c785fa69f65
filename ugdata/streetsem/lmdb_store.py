"""StreetSem as published: an LMDB of precomputed vectors keyed `{image}_{fov}`, plus a metadata table.

Value encodings accepted (an LMDB with the header below is read as raw float32 throughout, since float bytes can
look like anything; without it, each value's encoding is detected from its first bytes):

* **raw float32 + header** (what `write_lmdb` writes, and the safe default): the LMDB holds a key
  `__streetsem_header__` whose value is JSON `{"format": "streetsem-f32", "fields": ["image", "content",
  "atmosphere", ...], "dims": {"image": 1536, ...}}`; every record is the fields' little-endian float32 values
  concatenated in that order.
* **.npz** (`np.savez`; starts with `PK`): one array per field name.
* **.npy** (`np.save`; starts with `\\x93NUMPY`): a (7, d) array in the order image, content, then the five
  queries (atmosphere, activity, object, geography, creativity), or a 0-d object array holding a dict
  (only with allow_pickle).
* **pickle** (starts with `\\x80`): a dict of field -> 1-d array (the CSSR reference code's habit). Unpickling
  runs code from the file, so it is refused unless the caller passes `allow_pickle=True`
  (`--allow-pickle` on the CLI) for a file they trust.

Field names are matched case-insensitively with aliases (image/img/image_emb, content/summary/text,
geography/geographical, creativity/creative, ...). Dimensions come from the data, never from constants.

The metadata table (CSV, Parquet or JSON lines) has one row per image or per (image, fov) with columns
image (or image_id / image_name / id), optional fov, city, lat, lng (or lon), optional geohash (computed
from lat/lng when absent).
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ugcore.errors import DataError, UserError

from . import geohash as gh
from .data import QUERY_TYPES, STREETSEM_FOV_DEGREES, StreetSemData

HEADER_KEY = b"__streetsem_header__"
HEADER_FORMAT = "streetsem-f32"
FIELDS: tuple[str, ...] = ("image", "content", *QUERY_TYPES)

_ALIASES = {
    "image": ("image", "img", "image_emb", "image_embedding", "image_vec", "img_emb", "visual", "vision"),
    "content": ("content", "summary", "text", "content_emb", "summary_emb", "caption", "description"),
    "atmosphere": ("atmosphere", "atmosphere_query", "q_atmosphere"),
    "activity": ("activity", "activity_query", "q_activity"),
    "object": ("object", "object_query", "objects", "q_object"),
    "geography": ("geography", "geographical", "geographic", "geography_query", "geographical_query", "geo"),
    "creativity": ("creativity", "creative", "creativity_query", "creative_query"),
}


def _canonical(d: dict[str, Any], key: str) -> dict[str, np.ndarray]:
    lower = {str(k).lower(): v for k, v in d.items()}
    out = {}
    for f in FIELDS:
        hit = next((a for a in _ALIASES[f] if a in lower), None)
        if hit is None:
            raise DataError(
                f"LMDB record '{key}' has no '{f}' vector (fields present: {sorted(lower)}); expected "
                f"{list(FIELDS)} or their aliases"
            )
        out[f] = np.asarray(lower[hit], dtype=np.float32).reshape(-1)
    return out


def decode_value(key: str, value: bytes, header: dict | None, *, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """Decode one LMDB value into {field: 1-d float32 vector}; errors name the key."""
    try:
        if header is not None:  # a header declares every value raw float32 (their bytes may look like anything)
            fields = header["fields"]
            dims = header["dims"]
            need = 4 * sum(int(dims[f]) for f in fields)
            if len(value) != need:
                raise DataError(
                    f"LMDB record '{key}' has {len(value)} bytes; the header's fields {fields} with dims {dims} need "
                    f"{need} (float32). The record is corrupt or the header is wrong"
                )
            flat = np.frombuffer(value, dtype="<f4")
            out, off = {}, 0
            for f in fields:
                d = int(dims[f])
                out[f] = flat[off : off + d].astype(np.float32)
                off += d
            return _canonical(out, key)
        if value[:6] == b"\x93NUMPY":
            arr = np.load(io.BytesIO(value), allow_pickle=allow_pickle)
            if arr.dtype == object and arr.ndim == 0:
                return _canonical(arr.item(), key)
            if arr.ndim != 2 or arr.shape[0] != len(FIELDS):
                raise DataError(f"LMDB record '{key}': .npy array has shape {arr.shape}, expected (7, d)")
            return {f: arr[i].astype(np.float32) for i, f in enumerate(FIELDS)}
        if value[:2] == b"PK":
            with np.load(io.BytesIO(value), allow_pickle=False) as z:
                return _canonical({k: z[k] for k in z.files}, key)
        if value[:1] == b"\x80":
            if not allow_pickle:
                raise UserError(
                    f"LMDB record '{key}' is a Python pickle; unpickling runs code from the file. If you trust "
                    "this file pass --allow-pickle (allow_pickle=True), or convert it with `ugbench streetsem convert`"
                )
            obj = pickle.loads(value)  # noqa: S301 - explicit opt-in above
            if isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.shape[0] == len(FIELDS):
                return {f: obj[i].astype(np.float32) for i, f in enumerate(FIELDS)}
            if not isinstance(obj, dict):
                raise DataError(f"LMDB record '{key}': pickle holds {type(obj).__name__}, expected a dict of vectors")
            return _canonical(obj, key)
        raise DataError(
            f"LMDB record '{key}' is not .npy/.npz/pickle and the LMDB has no {HEADER_KEY.decode()} header "
            "describing raw float32 values"
        )
    except (UserError, DataError):
        raise
    except Exception as e:  # numpy/pickle raise many types on garbage; name the key and the fix
        raise DataError(f"LMDB record '{key}' cannot be decoded ({type(e).__name__}: {e}); the value is corrupt") from e


def split_key(key: str) -> tuple[str, int]:
    """`{image}_{fov}` -> (image, fov degrees). Image ids may contain underscores: split on the last one."""
    image, sep, fov = key.rpartition("_")
    if not sep or not image or not fov.lstrip("-").isdigit():
        raise DataError(f"LMDB key '{key}' is not of the form '{{image}}_{{fov}}' with an integer fov")
    return image, int(fov)


def fov_class(deg: int, key: str) -> int:
    d = int(deg) % 360
    if d not in STREETSEM_FOV_DEGREES:
        raise DataError(f"LMDB key '{key}': fov {deg} is not one of {list(STREETSEM_FOV_DEGREES)}")
    return STREETSEM_FOV_DEGREES.index(d)


def read_metadata(path: str | Path) -> pd.DataFrame:
    """Read the metadata table and normalise its column names to image, fov?, city, lat, lng, geohash."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"metadata table {p} does not exist; StreetSem ships it beside the LMDB (city, lat, lng, geohash)")
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(p)
        elif suffix in (".jsonl", ".json"):
            df = pd.read_json(p, lines=suffix == ".jsonl")
        else:
            df = pd.read_csv(p, dtype={"image": str, "image_id": str, "image_name": str, "id": str, "geohash": str})
    except Exception as e:
        raise DataError(f"cannot read metadata table {p}: {e}") from e
    cols = {c.lower().strip(): c for c in df.columns}
    ren = {}
    for want, options in {
        "image": ("image", "image_id", "image_name", "id", "pano_id", "panoid"),
        "fov": ("fov", "heading_fov"),
        "city": ("city",),
        "lat": ("lat", "latitude"),
        "lng": ("lng", "lon", "long", "longitude"),
        "geohash": ("geohash",),
    }.items():
        hit = next((cols[o] for o in options if o in cols), None)
        if hit is not None:
            ren[hit] = want
    df = df.rename(columns=ren)
    for req in ("image", "lat", "lng"):
        if req not in df.columns:
            raise DataError(f"metadata table {p} has no '{req}' column (columns: {list(df.columns)})")
    df["image"] = df["image"].astype(str)
    if "city" not in df.columns:
        df["city"] = ""
    bad = df[~np.isfinite(pd.to_numeric(df["lat"], errors="coerce")) | ~np.isfinite(pd.to_numeric(df["lng"], errors="coerce"))]
    if len(bad):
        raise DataError(f"metadata table {p} row {bad.index[0]} (image '{bad.iloc[0]['image']}') has no valid lat/lng")
    if "geohash" not in df.columns or df["geohash"].isna().any():
        df["geohash"] = gh.encode_many(df["lat"], df["lng"], 10)
    return df


def _meta_lookup(meta: pd.DataFrame):
    if "fov" in meta.columns:
        m = {(str(r.image), int(r.fov) % 360): r for r in meta.itertuples(index=False)}
        return lambda image, fov: m.get((image, fov))
    if meta["image"].duplicated().any():
        dup = meta.loc[meta["image"].duplicated(), "image"].iloc[0]
        raise DataError(f"metadata has several rows for image '{dup}' but no fov column to tell them apart")
    m = {str(r.image): r for r in meta.itertuples(index=False)}
    return lambda image, fov: m.get(image)


def read_header(env) -> dict | None:
    with env.begin() as txn:
        raw = txn.get(HEADER_KEY)
    if raw is None:
        return None
    try:
        header = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(f"LMDB header {HEADER_KEY.decode()} is not JSON ({e})") from e
    if header.get("format") != HEADER_FORMAT or not isinstance(header.get("fields"), list):
        raise DataError(f"LMDB header {HEADER_KEY.decode()} is not a '{HEADER_FORMAT}' header: {header}")
    return header


def load_lmdb(
    lmdb_path: str | Path,
    metadata_path: str | Path,
    *,
    allow_pickle: bool = False,
    keys: Iterable[str] | None = None,
    limit: int | None = None,
    text_path: str | Path | None = None,
) -> StreetSemData:
    """Load the StreetSem LMDB (`keys` restricts to those keys; an absent one is an error naming it).

    Every record must have a metadata row; the first key without one is reported. `text_path` optionally
    adds the texts (a table with key or image+fov, summary and the five query columns) for keyword baselines.
    """
    import lmdb

    p = Path(lmdb_path)
    if not p.exists():
        raise UserError(f"LMDB {p} does not exist")
    meta = read_metadata(metadata_path)
    lookup = _meta_lookup(meta)
    try:
        env = lmdb.open(str(p), readonly=True, lock=False, readahead=False, subdir=p.is_dir())
    except lmdb.Error as e:
        raise DataError(f"{p} is not a readable LMDB ({e})") from e
    header = read_header(env)
    rows: list[tuple[str, dict[str, np.ndarray]]] = []
    with env.begin() as txn:
        if keys is not None:
            for k in keys:
                v = txn.get(str(k).encode())
                if v is None:
                    raise DataError(f"key '{k}' is not in the LMDB {p}")
                rows.append((str(k), decode_value(str(k), bytes(v), header, allow_pickle=allow_pickle)))
        else:
            for kb, v in txn.cursor():
                if kb == HEADER_KEY:
                    continue
                k = kb.decode()
                rows.append((k, decode_value(k, bytes(v), header, allow_pickle=allow_pickle)))
                if limit is not None and len(rows) >= limit:
                    break
    env.close()
    if not rows:
        raise DataError(f"LMDB {p} holds no records")
    rows.sort(key=lambda r: r[0])
    dims = {f: len(rows[0][1][f]) for f in FIELDS}
    if len({dims[f] for f in FIELDS[1:]}) != 1:
        raise DataError(f"LMDB record '{rows[0][0]}': text vectors differ in size {dims}; they must share one space")
    n = len(rows)
    image_vec = np.empty((n, dims["image"]), np.float32)
    content = np.empty((n, dims["content"]), np.float32)
    queries = np.empty((n, len(QUERY_TYPES), dims["content"]), np.float32)
    images, fovs, lat, lng, ghs, cities, splits = [], [], np.empty(n), np.empty(n), [], [], []
    has_split = "split" in meta.columns
    for i, (k, rec) in enumerate(rows):
        for f in FIELDS:
            if len(rec[f]) != dims[f]:
                raise DataError(
                    f"LMDB record '{k}': '{f}' vector is {len(rec[f])}-d but the first record's is {dims[f]}-d"
                )
            if not np.isfinite(rec[f]).all():
                raise DataError(f"LMDB record '{k}': '{f}' vector holds NaN or inf")
        image, deg = split_key(k)
        m = lookup(image, deg % 360)
        if m is None:
            raise DataError(f"LMDB record '{k}' has no row in the metadata table {metadata_path}")
        image_vec[i] = rec["image"]
        content[i] = rec["content"]
        for j, q in enumerate(QUERY_TYPES):
            queries[i, j] = rec[q]
        images.append(image)
        fovs.append(fov_class(deg, k))
        lat[i], lng[i] = float(m.lat), float(m.lng)
        ghs.append(str(m.geohash))
        cities.append(str(m.city) if m.city == m.city else "")
        if has_split:
            splits.append(str(m.split))
    data = StreetSemData(
        image=np.array(images, dtype=object),
        fov=np.array(fovs, dtype=np.int64),
        image_vec=image_vec,
        content_vec=content,
        query_vec=queries,
        lat=lat,
        lng=lng,
        geohash=np.array(ghs, dtype=object),
        city=np.array(cities, dtype=object),
        keys=np.array([r[0] for r in rows], dtype=object),
        split=np.array(splits, dtype=object) if has_split else None,
        fov_names=tuple((header or {}).get("fov_names") or (str(d) for d in STREETSEM_FOV_DEGREES)),
        source={"kind": "lmdb", "lmdb": str(p), "metadata": str(metadata_path), "dims": dims},
    )
    if text_path is not None:
        attach_texts(data, text_path)
    return data


def attach_texts(data: StreetSemData, text_path: str | Path) -> StreetSemData:
    """Add summary and query texts from a table keyed by `key` (or image + fov)."""
    p = Path(text_path)
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, dtype=str, keep_default_na=False)
    if "key" not in df.columns:
        if not {"image", "fov"} <= set(df.columns):
            raise DataError(f"text table {p} needs a 'key' column or 'image' and 'fov' columns")
        df["key"] = df["image"].astype(str) + "_" + df["fov"].astype(str)
    need = ["summary", *QUERY_TYPES]
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise DataError(f"text table {p} lacks columns {miss} (needs key, summary, {', '.join(QUERY_TYPES)})")
    by_key = df.set_index("key")
    missing = [k for k in data.keys if k not in by_key.index]
    if missing:
        raise DataError(f"text table {p} has no row for key '{missing[0]}' ({len(missing)} keys missing)")
    rows = by_key.loc[list(data.keys)]
    data.content_text = rows["summary"].astype(str).to_numpy(dtype=object)
    data.query_text = rows[list(QUERY_TYPES)].astype(str).to_numpy(dtype=object)
    return data


def write_lmdb(
    data: StreetSemData,
    out_dir: str | Path,
    *,
    encoding: str = "f32",
    overwrite: bool = False,
) -> Path:
    """Write `data` as a StreetSem directory: `vectors.lmdb/`, `metadata.csv` and, if present, `texts.parquet`.

    encoding: `f32` (raw float32 + header; the default), `npz`, or `pickle` (to mimic files found in the wild).
    """
    import lmdb

    from ugcore.atomic import atomic_dir

    if encoding not in ("f32", "npz", "pickle"):
        raise UserError(f"unknown LMDB encoding '{encoding}'; use f32, npz or pickle")
    out_dir = Path(out_dir)
    dims = {"image": data.image_dim, **{f: data.text_dim for f in FIELDS[1:]}}
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        size = 64 * 1024 * 1024 + int(len(data) * 4 * sum(dims.values()) * 2.5)
        env = lmdb.open(str(tmp / "vectors.lmdb"), map_size=size, subdir=True)
        with env.begin(write=True) as txn:
            if encoding == "f32":
                header = {"format": HEADER_FORMAT, "fields": list(FIELDS), "dims": dims, "fov_names": list(data.fov_names)}
                txn.put(HEADER_KEY, json.dumps(header).encode())
            for i in range(len(data)):
                key = f"{data.image[i]}_{int(data.fov[i]) * 90}"
                rec = {"image": data.image_vec[i], "content": data.content_vec[i]}
                rec.update({q: data.query_vec[i, j] for j, q in enumerate(QUERY_TYPES)})
                if encoding == "f32":
                    val = b"".join(np.ascontiguousarray(rec[f], dtype="<f4").tobytes() for f in FIELDS)
                elif encoding == "npz":
                    buf = io.BytesIO()
                    np.savez(buf, **rec)
                    val = buf.getvalue()
                else:
                    val = pickle.dumps({k: np.asarray(v) for k, v in rec.items()}, protocol=4)
                txn.put(key.encode(), val)
        env.sync()
        env.close()
        meta = pd.DataFrame(
            {
                "image": data.image,
                "fov": data.fov.astype(int) * 90,
                "city": data.city,
                "lat": data.lat,
                "lng": data.lng,
                "geohash": data.geohash,
            }
        )
        if data.split is not None:
            meta["split"] = data.split
        meta.to_csv(tmp / "metadata.csv", index=False)
        if data.content_text is not None and data.query_text is not None:
            t = pd.DataFrame({"key": [f"{i}_{d}" for i, d in zip(meta["image"], meta["fov"], strict=True)]})
            t["summary"] = data.content_text
            for j, q in enumerate(QUERY_TYPES):
                t[q] = data.query_text[:, j]
            t.to_parquet(tmp / "texts.parquet", index=False)
    return out_dir


def load_dir(path: str | Path, *, allow_pickle: bool = False, limit: int | None = None) -> StreetSemData:
    """Load a StreetSem directory as `write_lmdb` lays it out (or the published zip, unpacked: any *.lmdb
    folder or data.mdb plus a metadata table)."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{p} is not a directory; expected a StreetSem folder with an LMDB and metadata.csv")
    lmdb_p = p / "vectors.lmdb"
    if not lmdb_p.exists():
        cands = sorted(x for x in p.iterdir() if x.suffix == ".lmdb") or ([p] if (p / "data.mdb").is_file() else [])
        if not cands:
            raise UserError(f"{p} holds no LMDB (vectors.lmdb/, *.lmdb or data.mdb)")
        lmdb_p = cands[0]
    metas = [p / n for n in ("metadata.csv", "metadata.parquet", "metadata.jsonl", "meta.csv")]
    meta = next((m for m in metas if m.is_file()), None)
    if meta is None:
        raise UserError(f"{p} has no metadata table (metadata.csv / .parquet / .jsonl)")
    texts = p / "texts.parquet"
    data = load_lmdb(lmdb_p, meta, allow_pickle=allow_pickle, limit=limit, text_path=texts if texts.is_file() else None)
    if (p / "source.json").is_file():  # written by `ugbench streetsem convert`: the original source
        origin = json.loads((p / "source.json").read_text())
        data.source["converted_from"] = origin
        if origin.get("fingerprint"):
            data.source["fingerprint"] = origin["fingerprint"]
    return data
