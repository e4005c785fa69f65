"""Things built lazily on disk and shared between processes (tiny backbones, embedding caches, ...).

The rules every such place follows (docs/caches.md lists them all): one process builds, under a file lock,
while the others wait; it builds into a temporary sibling, checks that the result is complete (every file
its loader needs) and only then renames it into place; whoever reuses it validates it first, and an
incomplete or corrupt one is rebuilt with a one-line warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# Tests only: "RANK:SECONDS[,RANK:SECONDS]" makes the process of that rank (the RANK variable set by
# `accelerate launch` / torchrun) wait before it takes any build lock and before it takes part in deciding
# an embedding-cache plan, so a test can force which rank comes first. Unset in normal use.
LOCK_DELAY_ENV = "UG_TEST_LOCK_DELAY"


def forced_delay() -> None:
    """Sleep as UG_TEST_LOCK_DELAY says for this process's rank (tests only; a no-op when unset)."""
    spec = os.environ.get(LOCK_DELAY_ENV)
    if not spec:
        return
    rank = os.environ.get("RANK", "0")
    for part in spec.split(","):
        r, _, seconds = part.partition(":")
        if r.strip() == rank:
            time.sleep(float(seconds or 0))


@contextlib.contextmanager
def build_lock(target: str | Path) -> Iterator[None]:
    """Hold the lock `<target>.lock` (beside `target`): one process at a time builds or checks `target`."""
    from filelock import FileLock

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    forced_delay()
    with FileLock(str(target) + ".lock"):
        yield


def cache_root() -> Path:
    """The one cache root of this project (tiny backbones, embeddings, fingerprints, osmnx answers):
    $UG_CACHE, else $XDG_CACHE_HOME/urban-graph-embeddings, else ~/.cache/urban-graph-embeddings.

    One root, so that pointing UG_CACHE (or XDG_CACHE_HOME) at an empty folder really gives a cold start."""
    root = os.environ.get("UG_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "urban-graph-embeddings"


def warn(message: str) -> None:
    """A one-line warning on stderr (a cache rebuilt, a chunk re-encoded): no traceback, no source line."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_records(folder: str | Path, skip: tuple[str, ...] = ()) -> dict[str, dict[str, object]]:
    """{relative path: {"size", "sha256"}} of every file under `folder` (hidden files and `skip` left out)."""
    root = Path(folder)
    out: dict[str, dict[str, object]] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or rel in skip or any(part.startswith(".") for part in Path(rel).parts):
            continue
        out[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return out


def check_file_records(folder: str | Path, records: dict[str, dict[str, object]]) -> str | None:
    """None when every recorded file is there with its size and sha256, else what is wrong (one phrase)."""
    root = Path(folder)
    for rel, rec in records.items():
        p = root / rel
        if not p.is_file():
            return f"{rel} is missing"
        if p.stat().st_size != rec.get("size"):
            return f"{rel} has {p.stat().st_size} bytes, {rec.get('size')} when built"
        if sha256_file(p) != rec.get("sha256"):
            return f"{rel} differs from what was built (sha256)"
    return None


_TREE_CACHE: dict[tuple, str] = {}


def tree_digest(folder: str | Path, *, full_below: int = 64 << 20, sample: int = 4 << 20) -> str:
    """A content digest of a model folder, for cache keys: every file's path and size, the whole content of
    files below `full_below` bytes and the first and last `sample` bytes of bigger ones (multi-GB weights
    are not read in full; two trainings of one architecture differ in every block of their weights).
    Remembered per process by (path, size, mtime) of each file."""
    root = Path(folder).resolve()
    files = [p for p in sorted(root.rglob("*")) if p.is_file()
             and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)]
    stamp = tuple((p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp in _TREE_CACHE:
        return _TREE_CACHE[stamp]
    h = hashlib.sha256()
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.relative_to(root).as_posix()}\0{size}\0".encode())
        if size < full_below:
            h.update(sha256_file(p).encode())
        else:
            with open(p, "rb") as fh:
                h.update(fh.read(sample))
                fh.seek(size - sample)
                h.update(fh.read(sample))
    _TREE_CACHE[stamp] = digest = h.hexdigest()[:16]
    return digest
