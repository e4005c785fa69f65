"""The output every `ugdata fetch` source writes: verified images, a views table, a resumable journal.

Layout of OUT (what `ugdata build --views OUT/views.csv --images OUT/images` reads):

    images/<file>     each image written atomically, and only after PIL decoded it fully (a corrupt or cut
                      short download is never kept: it goes to rejects.csv with the reason)
    journal.jsonl     append-only resumable state: one JSON line per complete image (its ViewRecord, byte count
                      and sha256). A torn last line (a kill mid-write) is cut off on the next open; an entry
                      whose file is missing or whose sha256 no longer matches is dropped (fetched again)
    views.csv         at the end: VIEW_COLUMNS, one row per kept image, sorted by id (so a killed fetch that is
                      resumed writes the same table as an uninterrupted one)
    rejects.csv       REJECT_FIELDS: the images of this run that were not kept, with the reason
    fetch.json        source, query, parameters, counts (found/kept/thinned/duplicates/rejected), requests used,
                      complete: false while running, true once views.csv is written

`ugdata.views.load` understands id, lat, lon, heading, fov, captured_at, city and file (the image path,
relative to the images folder); the other columns (source, license, creator, attribution_url, sequence,
is_pano) travel as extra columns for licence/attribution handling.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from PIL import Image

from ugcore.atomic import remove_stale_temps, write_bytes_atomic, write_json_atomic, write_text_atomic
from ugcore.errors import UserError
from ugcore.faults import kill_point

JOURNAL = "journal.jsonl"
VIEWS_CSV = "views.csv"
REJECTS_CSV = "rejects.csv"
FETCH_JSON = "fetch.json"
IMAGES_DIR = "images"
REJECT_FIELDS = ("id", "source", "reason")
COUNT_KEYS = ("found", "kept", "thinned", "duplicates", "rejected")


@dataclass(frozen=True)
class ViewRecord:
    """One street view as every source writes it (one row of views.csv).

    heading: degrees clockwise from north (None = unknown); fov: horizontal field of view in degrees (None =
    unknown); captured_at: ISO-8601 UTC ("2021-06-01T12:00:00Z") or ""; file: the image's path relative to
    OUT/images.
    """

    id: str
    lat: float
    lon: float
    heading: float | None
    fov: float | None
    captured_at: str
    city: str | None
    source: str
    license: str
    creator: str | None
    attribution_url: str | None
    sequence: str | None
    is_pano: bool  # the source image was a 360-degree panorama (a fetch may keep perspective cuts of it)
    file: str


VIEW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ViewRecord))

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def image_file_name(view_id: str, ext: str = ".jpg") -> str:
    """A safe file name for an id: the id itself when it is [A-Za-z0-9._-], else a cleaned id plus a short
    hash (two ids never share a file)."""
    clean = _SAFE.sub("_", view_id).lstrip(".") or "view"
    if clean != view_id:
        clean = f"{clean[:80]}-{hashlib.sha256(view_id.encode()).hexdigest()[:10]}"
    return clean + ext


def verify_image(data: bytes) -> str | None:
    """None when `data` is a complete image PIL can decode; else the reason ("corrupt: ..." / "truncated: ...")."""
    if not data:
        return "empty: no bytes"
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.width < 1 or im.height < 1:
                return "corrupt: empty image"
    except Image.DecompressionBombError as e:
        return f"corrupt: {e}"
    except OSError as e:  # UnidentifiedImageError is an OSError; so is "image file is truncated"
        # PIL names the in-memory buffer by its address ("<_io.BytesIO object at 0x...>"): drop it, so that
        # rejects.csv is the same on every run.
        msg = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(e))
        kind = "truncated" if "truncated" in msg.lower() else "corrupt"
        return f"{kind}: {msg[:160]}"
    except (ValueError, SyntaxError, EOFError) as e:
        return f"corrupt: {str(e)[:160] or type(e).__name__}"
    return None


def encode_jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _record_from(obj: dict[str, Any]) -> ViewRecord:
    return ViewRecord(**{k: obj.get(k) for k in VIEW_COLUMNS})


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(round(v, 8)) if v == v else ""
    return str(v)


class ViewWriter:
    """Writes one fetch's output folder (see module docstring); safe to call from several threads.

    out_dir: OUT (created). source: "mapillary" | "osv5m" | "kartaview"; a folder that holds another source's
    fetch is refused. query / parameters: recorded in fetch.json (never put secrets in them).
    """

    def __init__(self, out_dir: str | Path, *, source: str, query: Any = None,
                 parameters: dict[str, Any] | None = None) -> None:
        self.out = Path(out_dir)
        self.images = self.out / IMAGES_DIR
        self.source = source
        self.query = query
        self.parameters = dict(parameters or {})
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"--out {self.out} is a file; give a folder")
        prev = self._previous_meta()
        if prev is not None and prev.get("source") not in (None, source):
            raise UserError(f"{self.out} holds a {prev.get('source')} fetch; give another --out for {source}")
        self.images.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.out)
        remove_stale_temps(self.images)
        self._lock = threading.Lock()
        self._rejects: dict[str, str] = {}
        self._done: dict[str, dict[str, Any]] = {}
        self.resumed = 0  # complete, verified images found from an earlier run
        self.dropped = 0  # journal entries whose file was missing or changed (fetched again)
        self._load_journal()
        self._journal = open(self.out / JOURNAL, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._write_meta(complete=False, counts={}, requests=0)

    # -- state ---------------------------------------------------------------------------------------
    def _previous_meta(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.out / FETCH_JSON).read_text())
        except (OSError, ValueError):
            return None

    def _load_journal(self) -> None:
        path = self.out / JOURNAL
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        end = raw.rfind(b"\n") + 1
        if end < len(raw):  # a torn last line (killed mid-append): cut it off before appending more
            with open(path, "r+b") as fh:
                fh.truncate(end)
        for line in raw[:end].splitlines():
            try:
                entry = json.loads(line)
                rec = _record_from(entry["record"])
            except (ValueError, KeyError, TypeError):
                continue
            self._done[rec.id] = entry
        for vid in list(self._done):
            entry = self._done[vid]
            p = self._image_path(entry["record"]["file"])
            try:
                data = p.read_bytes()
            except OSError:
                data = None
            if data is None or len(data) != entry.get("bytes") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                del self._done[vid]
                self.dropped += 1
        self.resumed = len(self._done)

    def _image_path(self, file: str) -> Path:
        p = Path(file)
        if p.is_absolute() or ".." in p.parts or not file:
            raise ValueError(f"image file {file!r} must be a relative path inside {self.images}")
        return self.images / p

    def is_done(self, view_id: str) -> bool:
        """Whether `view_id` is complete and verified (from this run or an earlier one)."""
        with self._lock:
            return view_id in self._done

    def done_ids(self) -> set[str]:
        with self._lock:
            return set(self._done)

    def record(self, view_id: str) -> ViewRecord | None:
        with self._lock:
            e = self._done.get(view_id)
        return _record_from(e["record"]) if e else None

    @property
    def rejected(self) -> dict[str, str]:
        with self._lock:
            return dict(self._rejects)

    # -- adding --------------------------------------------------------------------------------------
    def add(self, record: ViewRecord, data: bytes, *, expected_size: int | None = None) -> bool:
        """Keep `data` as the image of `record` if it is complete and decodable; else reject it. Returns kept."""
        if expected_size is not None and len(data) != expected_size:
            self.reject(record.id, f"truncated: got {len(data)} of {expected_size} bytes")
            return False
        why = verify_image(data)
        if why is not None:
            self.reject(record.id, why)
            return False
        path = self._image_path(record.file)
        write_bytes_atomic(path, data)
        entry = {"id": record.id, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                 "record": asdict(record)}
        line = json.dumps(entry, sort_keys=True, allow_nan=False) + "\n"
        with self._lock:
            self._journal.write(line)
            self._journal.flush()
            self._done[record.id] = entry
            self._rejects.pop(record.id, None)
        kill_point("fetch:image")
        return True

    def add_image(self, record: ViewRecord, img: Image.Image, *, quality: int = 92) -> bool:
        """Keep a PIL image (e.g. a perspective cut of a panorama) as JPEG."""
        return self.add(record, encode_jpeg(img, quality))

    def reject(self, view_id: str, reason: str) -> None:
        """Record that `view_id` was not kept (one line reason: "<kind>: <detail>")."""
        reason = " ".join(str(reason).split())
        with self._lock:
            self._rejects[view_id] = reason

    # -- finishing -----------------------------------------------------------------------------------
    def records(self, ids: Iterable[str] | None = None) -> list[ViewRecord]:
        """The complete records (of `ids` when given), sorted by id."""
        with self._lock:
            chosen = self._done if ids is None else {i: self._done[i] for i in ids if i in self._done}
            return [_record_from(chosen[k]["record"]) for k in sorted(chosen)]

    def finish(self, *, counts: dict[str, int] | None = None, requests: int = 0, ids: Iterable[str] | None = None,
               extra: dict[str, Any] | None = None, complete: bool = True) -> dict[str, Any]:
        """Write views.csv (the complete records of `ids`, or all), rejects.csv and fetch.json.

        counts: the source's found/thinned/duplicates (kept and rejected are filled in here). complete=False
        for a fetch stopped early (e.g. its request budget used up: the table holds what was fetched so far,
        a rerun resumes). Returns the fetch.json content.
        """
        recs = self.records(ids)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(VIEW_COLUMNS)
        for r in recs:
            w.writerow([_cell(getattr(r, c)) for c in VIEW_COLUMNS])
        write_text_atomic(self.out / VIEWS_CSV, buf.getvalue())
        rej = self.rejected
        rbuf = io.StringIO()
        rw = csv.writer(rbuf, lineterminator="\n")
        rw.writerow(REJECT_FIELDS)
        for vid in sorted(rej):
            rw.writerow([vid, self.source, rej[vid]])
        write_text_atomic(self.out / REJECTS_CSV, rbuf.getvalue())
        c = {k: 0 for k in COUNT_KEYS}
        c.update(counts or {})
        c["kept"] = len(recs)
        c["rejected"] = len(rej)
        c["resumed"] = self.resumed
        licenses: dict[str, int] = {}
        for r in recs:
            licenses[r.license] = licenses.get(r.license, 0) + 1
        meta = self._write_meta(complete=complete, counts=c, requests=requests, extra={"licenses": licenses, **(extra or {})})
        self.close()
        return meta

    def _write_meta(self, *, complete: bool, counts: dict[str, int], requests: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
        meta = {"source": self.source, "query": self.query, "parameters": self.parameters, "counts": counts,
                "requests": int(requests), "complete": complete, "views": VIEWS_CSV, "images": IMAGES_DIR,
                **(extra or {})}
        write_json_atomic(self.out / FETCH_JSON, meta)
        return meta

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._journal.close()

    def __enter__(self) -> ViewWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_partial(out_dir: str | Path) -> None:
    """Remove OUT's journal and outputs (not the images folder): a --fresh start."""
    out = Path(out_dir)
    for name in (JOURNAL, VIEWS_CSV, REJECTS_CSV, FETCH_JSON):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out / name)
