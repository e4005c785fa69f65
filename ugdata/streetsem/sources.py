"""StreetSem tables from images and texts: a raw folder + text table, or a UGData directory.

Both encode images with an image encoder spec and texts (summary/caption and the five queries) with a text
encoder spec (see features.py), and keep the texts for keyword baselines.

Raw variant: a table (CSV, Parquet or JSON lines) with one row per (image, fov):
    image, fov (0/90/180/270), lat, lng (or lon), city (optional), file (optional; default: the first of
    `{image}_{fov}.jpg|.jpeg|.png|.webp` under the images folder), summary, atmosphere, activity, object,
    geography, creativity

UGData variant: every view of `ugdata.load(dir)`; content text = the view's spatial-context caption; the five
queries = the view's `queries` struct (written offline from its spatial context); fov = fov_index (front /
right / back / left relative to the street); the panorama (per-image embedding, hard negatives) = the views
taken at the same point (lat, lon rounded to 1e-6 deg, ~0.1 m), or a `pano_id` column where the data has one.
Splits: UGData's own (train/val/test, built with its leakage checks) unless a split mode is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ugcore.errors import DataError, UserError

from .data import QUERY_TYPES, STREETSEM_FOV_DEGREES, StreetSemData
from .features import image_encoder, text_encoder

UGDATA_FOV_NAMES = ("front", "right", "back", "left")


def _encode_texts(spec: dict[str, Any], content: list[str], queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    enc = text_encoder(spec)
    n = len(content)
    flat = enc(list(content) + [str(q) for q in queries.reshape(-1)])
    return flat[:n], flat[n:].reshape(n, len(QUERY_TYPES), -1)


def _encode_images(spec: dict[str, Any], load, keys: list[str], batch: int = 64, progress=None) -> np.ndarray:
    enc = image_encoder(spec)
    out = []
    for s in range(0, len(keys), batch):
        out.append(enc([load(k) for k in keys[s : s + batch]]))
        if progress is not None:
            progress(min(len(keys), s + batch), len(keys))
    return np.concatenate(out).astype(np.float32)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"text table {path} does not exist")
    s = path.suffix.lower()
    if s == ".parquet":
        return pd.read_parquet(path)
    if s in (".jsonl", ".json"):
        return pd.read_json(path, lines=s == ".jsonl", dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_raw(
    table: str | Path,
    images_dir: str | Path,
    *,
    image_spec: dict[str, Any],
    text_spec: dict[str, Any],
    progress=None,
) -> StreetSemData:
    """Raw StreetSem (image files + text table) -> vectors through the given encoders."""
    from PIL import Image, UnidentifiedImageError

    table, images_dir = Path(table), Path(images_dir)
    df = _read_table(table)
    df.columns = [c.lower().strip() for c in df.columns]
    if "lon" in df.columns and "lng" not in df.columns:
        df = df.rename(columns={"lon": "lng"})
    need = ["image", "fov", "lat", "lng", "summary", *QUERY_TYPES]
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise DataError(f"{table} lacks column(s) {miss}; needs {need} (+ optional city, file)")
    if not images_dir.is_dir():
        raise UserError(f"images folder {images_dir} does not exist")
    files, fovs = [], []
    for i, r in df.iterrows():
        try:
            deg = int(float(r["fov"])) % 360
        except ValueError:
            raise DataError(f"{table} row {i}: fov '{r['fov']}' is not a number (0, 90, 180 or 270)") from None
        if deg not in STREETSEM_FOV_DEGREES:
            raise DataError(f"{table} row {i}: fov {deg} is not one of {list(STREETSEM_FOV_DEGREES)}")
        fovs.append(STREETSEM_FOV_DEGREES.index(deg))
        if "file" in df.columns and str(r["file"]):
            f = images_dir / str(r["file"])
        else:
            f = next((images_dir / f"{r['image']}_{deg}{e}" for e in (".jpg", ".jpeg", ".png", ".webp")
                      if (images_dir / f"{r['image']}_{deg}{e}").is_file()), images_dir / f"{r['image']}_{deg}.jpg")
        if not f.is_file():
            raise DataError(f"{table} row {i} (image '{r['image']}', fov {deg}): image file {f} not found")
        files.append(f)
        for c in ("summary", *QUERY_TYPES):
            if not str(r[c]).strip():
                raise DataError(f"{table} row {i} (image '{r['image']}'): '{c}' is empty")
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(np.float64)
    lng = pd.to_numeric(df["lng"], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(lat) | ~np.isfinite(lng))
    if len(bad):
        raise DataError(f"{table} row {bad[0]}: lat/lng is not a number")

    def load_image(k: str):
        try:
            return Image.open(k).convert("RGB")
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"image {k} cannot be read ({e})") from e

    img = _encode_images(image_spec, load_image, [str(f) for f in files], progress=progress)
    qtext = df[list(QUERY_TYPES)].astype(str).to_numpy(dtype=object)
    content_text = df["summary"].astype(str).to_numpy(dtype=object)
    cvec, qvec = _encode_texts(text_spec, list(content_text), qtext)
    return StreetSemData(
        image=df["image"].astype(str).to_numpy(dtype=object),
        fov=np.array(fovs, dtype=np.int64),
        image_vec=img,
        content_vec=cvec,
        query_vec=qvec,
        lat=lat,
        lng=lng,
        city=(df["city"].astype(str) if "city" in df.columns else pd.Series([""] * len(df))).to_numpy(dtype=object),
        content_text=content_text,
        query_text=qtext,
        source={"kind": "raw", "table": str(table), "images": str(images_dir), "image_encoder": image_spec,
                "text_encoder": text_spec},
    )


def panorama_keys(views: pd.DataFrame) -> np.ndarray:
    if "pano_id" in views.columns:
        return views["pano_id"].astype(str).to_numpy(dtype=object)
    return np.array([f"pt{la:.6f},{lo:.6f}" for la, lo in zip(views["lat"], views["lon"], strict=True)], dtype=object)


def load_ugdata(
    data_dir: str | Path,
    *,
    image_spec: dict[str, Any],
    text_spec: dict[str, Any],
    progress=None,
    limit: int | None = None,
) -> StreetSemData:
    """The StreetSem track from a UGData directory (views with `queries`, `caption` and `fov_index`)."""
    import ugdata

    ud = ugdata.load(data_dir)
    views = ud.views()
    if len(views) == 0:
        raise DataError(f"{data_dir} holds no views")
    for c in ("image_id", "lat", "lon", "fov_index", "caption", "queries", "split"):
        if c not in views.columns:
            raise DataError(f"{data_dir}: the views lack column '{c}' (see ugdata/format.py); rebuild with a current ugdata")
    views = views.sort_values("image_id", kind="stable").reset_index(drop=True)
    if limit is not None:
        views = views.iloc[:limit].reset_index(drop=True)
    unknown = views[views["fov_index"].astype(int) < 0]
    if len(unknown):
        raise DataError(
            f"{data_dir}: view '{unknown.iloc[0]['image_id']}' has fov_index -1 (unknown heading) and "
            f"{len(unknown)} views in all; the StreetSem track needs a field of view per view"
        )
    qtext = np.empty((len(views), len(QUERY_TYPES)), dtype=object)
    for i, q in enumerate(views["queries"]):
        if not isinstance(q, dict):
            raise DataError(f"{data_dir}: view '{views.iloc[i]['image_id']}' has no queries struct")
        for j, t in enumerate(QUERY_TYPES):
            if not q.get(t):
                raise DataError(f"{data_dir}: view '{views.iloc[i]['image_id']}' has an empty '{t}' query")
            qtext[i, j] = str(q[t])
    content_text = views["caption"].astype(str).to_numpy(dtype=object)
    cvec, qvec = _encode_texts(text_spec, list(content_text), qtext)
    img = _encode_images(image_spec, ud.image, views["image_id"].astype(str).tolist(), progress=progress)
    lat = views["lat"].to_numpy(np.float64)
    lng = views["lon"].to_numpy(np.float64)
    return StreetSemData(
        image=panorama_keys(views),
        fov=views["fov_index"].astype(np.int64).to_numpy(),
        image_vec=img,
        content_vec=cvec,
        query_vec=qvec,
        lat=lat,
        lng=lng,
        city=views["city"].astype(str).to_numpy(dtype=object) if "city" in views else np.array([""] * len(views), dtype=object),
        split=views["split"].astype(str).to_numpy(dtype=object),
        content_text=content_text,
        query_text=qtext,
        keys=views["image_id"].astype(str).to_numpy(dtype=object),
        fov_names=UGDATA_FOV_NAMES,
        source={"kind": "ugdata", "path": str(data_dir), "fingerprint": ud.fingerprint, "image_encoder": image_spec,
                "text_encoder": text_spec},
    )
