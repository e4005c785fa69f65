"""On-disk embedding cache: resumable, keyed by everything that determines an embedding.

Key = sha256 of (cache format, model name, model revision, model digest, dataset fingerprint, task, side,
instruction, with-graph flag, sha256 of the ordered item ids). The model digest (`model_digest`) changes
when the model does even if its declared revision does not: a hash of the source files of a model defined
outside ugbench (a `module:attr` model, a UGE checkpoint's loader) and a content hash of a model folder.
An entry is a folder `<cache_dir>/<model-slug>/<key>/` with `meta.json` and fixed-size chunks
`chunk_000000.npy`, each written atomically (temp file + rename) and followed by its checksum
`chunk_000000.sha256` (sha256 of the shape and float32 bytes), so an interrupted run leaves only whole
chunks and the next run encodes just the missing ones, and a chunk whose bytes no longer match its checksum
is re-encoded with a warning. `overwrite=True` deletes the entry first. A meta.json that disagrees with the
key (another fingerprint, other item ids, another chunk size) is an error rather than a silent reuse.
Several processes (`accelerate launch`) share one entry: the main process decides which chunks are valid
and broadcasts that plan (ugbench.encoding.Encoder).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import re
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np

from ugcore.atomic import remove_stale_temps, write_bytes_atomic, write_json_atomic
from ugcore.errors import UserError

DEFAULT_CHUNK = 1024
CACHE_FORMAT = 2  # 2: chunks carry a checksum; the key holds the model digest (format 1 entries are not read)


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


def array_digest(arr: np.ndarray) -> str:
    """sha256 of an embedding chunk: its shape and its float32 C-order bytes."""
    a = np.ascontiguousarray(arr, dtype=np.float32)
    h = hashlib.sha256(json.dumps(list(a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


class CacheEntry:
    def __init__(self, root: Path, meta: dict[str, Any] | None, chunk_size: int):
        self.root = root
        self.meta = meta
        self.chunk_size = chunk_size

    def chunk_path(self, i: int) -> Path:
        return self.root / f"chunk_{i:06d}.npy"

    def sum_path(self, i: int) -> Path:
        return self.root / f"chunk_{i:06d}.sha256"

    def has(self, i: int) -> bool:
        """Chunk i is complete: its array and then its checksum were written (it may still be corrupt)."""
        return self.chunk_path(i).is_file() and self.sum_path(i).is_file()

    def try_load(self, i: int, rows: int | None = None) -> tuple[np.ndarray | None, str | None]:
        """(array, None) for a valid chunk, (None, None) for a missing or unfinished one, (None, why) for a
        corrupt one: unreadable, not matching its checksum, or not `rows` rows."""
        if not self.has(i):
            return None, None
        try:
            want = self.sum_path(i).read_text().strip()
            arr = np.load(self.chunk_path(i), allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any unreadable chunk is corrupt; the caller re-encodes it
            return None, f"unreadable ({type(e).__name__})"
        if arr.dtype != np.float32 or arr.ndim != 2 or array_digest(arr) != want:
            return None, "its content does not match its checksum"
        if rows is not None and arr.shape[0] != rows:
            return None, f"{arr.shape[0]} rows, expected {rows}"
        return arr, None

    def load(self, i: int, rows: int | None = None) -> np.ndarray:
        arr, problem = self.try_load(i, rows)
        if arr is None:
            raise UserError(f"embedding cache chunk {self.chunk_path(i)} is "
                            f"{problem or 'missing'}; rerun (or rerun with --overwrite)")
        return arr

    def save(self, i: int, arr: np.ndarray) -> None:
        """Write the chunk, then its checksum (each atomically): a chunk without a checksum is unfinished."""
        a = np.ascontiguousarray(arr, dtype=np.float32)
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        self.sum_path(i).unlink(missing_ok=True)
        write_bytes_atomic(self.chunk_path(i), buf.getvalue())
        write_bytes_atomic(self.sum_path(i), (array_digest(a) + "\n").encode())


class EmbeddingCache:
    def __init__(self, root: str | Path, *, overwrite: bool = False, chunk_size: int = DEFAULT_CHUNK):
        self.root = Path(root).expanduser()
        self.overwrite = overwrite
        self.chunk_size = chunk_size
        self._cleared: set[Path] = set()

    def entry(self, *, model: str, revision: str, fingerprint: str, task: str, side: str,
              instruction: str | None, with_graph: bool, ids: list[str], write: bool = True,
              model_digest: str | None = None) -> CacheEntry:
        meta = {
            "cache_format": CACHE_FORMAT, "model": model, "revision": revision, "model_digest": model_digest,
            "fingerprint": fingerprint, "task": task, "side": side, "instruction": instruction,
            "with_graph": with_graph, "n_items": len(ids), "ids_sha256": ids_digest(ids),
        }
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:32]
        root = self.root / slugify(model) / key
        if self.overwrite and root not in self._cleared and root.exists() and write:
            shutil.rmtree(root)
        self._cleared.add(root)
        if write:  # the temporary chunk file of a run killed mid-write (its writer is gone)
            remove_stale_temps(root)
        mf = root / "meta.json"
        if mf.is_file() and write:
            try:
                json.loads(mf.read_text())
            except (OSError, ValueError):
                from ugcore.shared import warn

                warn(f"embedding cache {mf} is unreadable; re-encoding this entry")
                shutil.rmtree(root)
        if mf.is_file():
            try:
                stored = json.loads(mf.read_text())
            except (OSError, ValueError):
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


def _library_dirs() -> list[Path]:
    """Where installed code lives (stdlib, site-packages) and ugbench itself: code there is versioned by
    its package, and ugbench's adapters put what changes their embeddings into their revision."""
    paths = sysconfig.get_paths()
    dirs = {Path(paths[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(Path(__file__).resolve().parent)
    return sorted(dirs)


def _is_library(path: Path) -> bool:
    return any(path.is_relative_to(d) for d in _library_dirs())


def code_files(model: Any, source: str | None = None) -> list[Path]:
    """The source files a model's embeddings depend on that no revision covers: the modules of its class
    and base classes, and the module of a `module:attr` source, when they are user code (not stdlib,
    site-packages or ugbench)."""
    modules = [c.__module__ for c in type(model).__mro__]
    if source and re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", source.strip()):
        modules.append(source.strip().partition(":")[0])
    files: set[Path] = set()
    for name in modules:
        mod = sys.modules.get(name)
        try:
            f = inspect.getsourcefile(mod) if mod is not None else None
        except TypeError:  # builtins
            f = None
        if f and Path(f).is_file() and not _is_library(Path(f).resolve()):
            files.add(Path(f).resolve())
    return sorted(files)


def model_digest(model: Any, source: str | None = None) -> str | None:
    """What keys the cache besides the model's declared revision (None when nothing does): a hash of its
    user-code source files (`code_files`) and, when `source` is a local folder (a checkpoint, a model
    folder), a content hash of that folder. So editing a `module:attr` model or retraining a checkpoint in
    place never reuses the old embeddings, whatever revision the model declares."""
    from ugcore.shared import sha256_file, tree_digest

    parts = []
    files = code_files(model, source)
    if files:
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.name}\0{sha256_file(f)}\0".encode())
        parts.append(f"code-{h.hexdigest()[:16]}")
    if source:
        p = Path(source).expanduser()
        if p.is_dir():
            parts.append(f"folder-{tree_digest(p)}")
    return "+".join(parts) or None
