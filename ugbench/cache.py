"""On-disk embedding cache: resumable, keyed by everything that determines an embedding.

Key = sha256 of (model name, model revision, dataset fingerprint, task, side, instruction, with-graph flag,
sha256 of the ordered item ids). An entry is a folder `<cache_dir>/<model-slug>/<key>/` with `meta.json`
and fixed-size chunks `chunk_000000.npy`, each written atomically (temp file + rename), so an interrupted
run leaves only whole chunks and the next run encodes just the missing ones. `overwrite=True` deletes the
entry first. A meta.json that disagrees with the key (another fingerprint, other item ids, another chunk
size) is an error rather than a silent reuse.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ugdata.common.atomic import write_bytes_atomic, write_json_atomic
from ugdata.common.errors import UserError

DEFAULT_CHUNK = 1024


def slugify(name: str) -> str:
    """Folder-safe model name: 'org/model' -> 'org__model'; other odd characters -> '-'."""
    s = name.strip().replace("\\", "/").rstrip("/").replace("/", "__")
    s = re.sub(r"[^A-Za-z0-9._+-]+", "-", s).strip("-.")
    return s or "model"


def ids_digest(ids: list[str]) -> str:
    h = hashlib.sha256()
    for i in ids:
        h.update(str(i).encode())
        h.update(b"\0")
    return h.hexdigest()


class CacheEntry:
    def __init__(self, root: Path, meta: dict[str, Any], chunk_size: int):
        self.root = root
        self.meta = meta
        self.chunk_size = chunk_size

    def chunk_path(self, i: int) -> Path:
        return self.root / f"chunk_{i:06d}.npy"

    def has(self, i: int) -> bool:
        return self.chunk_path(i).is_file()

    def load(self, i: int) -> np.ndarray:
        try:
            return np.load(self.chunk_path(i), allow_pickle=False)
        except Exception as e:
            raise UserError(
                f"embedding cache chunk {self.chunk_path(i)} is unreadable ({e}); rerun with --overwrite"
            ) from None

    def save(self, i: int, arr: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
        write_bytes_atomic(self.chunk_path(i), buf.getvalue())


class EmbeddingCache:
    def __init__(self, root: str | Path, *, overwrite: bool = False, chunk_size: int = DEFAULT_CHUNK):
        self.root = Path(root).expanduser()
        self.overwrite = overwrite
        self.chunk_size = chunk_size
        self._cleared: set[Path] = set()

    def entry(self, *, model: str, revision: str, fingerprint: str, task: str, side: str,
              instruction: str | None, with_graph: bool, ids: list[str], write: bool = True) -> CacheEntry:
        meta = {
            "model": model, "revision": revision, "fingerprint": fingerprint, "task": task, "side": side,
            "instruction": instruction, "with_graph": with_graph, "n_items": len(ids),
            "ids_sha256": ids_digest(ids),
        }
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:32]
        root = self.root / slugify(model) / key
        if self.overwrite and root not in self._cleared and root.exists() and write:
            shutil.rmtree(root)
        self._cleared.add(root)
        mf = root / "meta.json"
        if mf.is_file():
            try:
                stored = json.loads(mf.read_text())
            except json.JSONDecodeError:
                raise UserError(f"embedding cache {mf} is corrupt; rerun with --overwrite") from None
            for k, v in meta.items():
                if stored.get(k) != v:
                    raise UserError(
                        f"embedding cache {root} does not match this run: its {k} is {stored.get(k)!r}, "
                        f"expected {v!r} (the data directory's fingerprint or items changed?); rerun with "
                        "--overwrite or choose another --cache-dir"
                    )
            return CacheEntry(root, stored, int(stored.get("chunk_size", self.chunk_size)))
        meta["chunk_size"] = self.chunk_size
        if write:
            root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(mf, meta)
        return CacheEntry(root, meta, self.chunk_size)
