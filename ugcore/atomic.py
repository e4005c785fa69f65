"""Atomic outputs: write to a temporary sibling, then rename, so a crash never leaves half a result.

A kill (even SIGKILL) leaves the old output or the new one, each complete, plus at most a hidden temporary
beside it, which the next write of the same output removes (`remove_stale_temps`). Temporaries are recognised
by their name AND a proof that this tool made them, never by name alone:
  - a folder `.<name>.<random>.tmp/` from `atomic_dir` holds the marker file `.ug-atomic-tmp` (JSON: which
    process on which machine made it); the new content is the subfolder `<name>`, renamed into place;
  - a file `.<name>.<pid>@<host>.<random>.tmp` from `write_bytes_atomic` names its writer's process.
Either is removed only when that process, on this machine, is gone (a live writer's temporary is kept).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .faults import kill_point

TMP_MARKER = ".ug-atomic-tmp"
_MARKER_KIND = "ugcore.atomic"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{_host()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        kill_point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, *, indent: int = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def _host() -> str:
    """A short, file-name-safe tag of this machine (temporaries on a shared filesystem say whose they are)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _proc_start(pid: int) -> str | None:
    """The start time of process `pid` (Linux /proc; None where unknown): tells a reused pid from its owner."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:].split()[19].decode()  # field 22, starttime
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start: str | None = None) -> bool:
    """Whether process `pid` of this machine still runs (True when it cannot be told: keep, never guess)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, another user's
    now = _proc_start(pid)
    return start is None or now is None or now == start


def _owner_gone(marker: Path, name: str | None) -> bool:
    try:
        owner = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False  # unreadable or half-written: not provably ours and dead
    if not isinstance(owner, dict) or owner.get("kind") != _MARKER_KIND or owner.get("host") != _host():
        return False
    if name is not None and owner.get("for") != name:
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return False
    return not _alive(pid, owner.get("start"))


_TMP_FILE_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[0-9a-f]{8})\.[^.]+\.tmp$")


def _restore_old(box: Path, folder: Path) -> None:
    """A writer killed between moving the old output aside and renaming the new one in left the output
    missing and the old one in its box: put the old one back (the kill then changed nothing)."""
    try:
        target = json.loads((box / TMP_MARKER).read_text())["for"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not isinstance(target, str) or "/" in target or target in ("", ".", ".."):
        return
    old, final = box / f"{target}.old", folder / target
    if old.is_dir() and not final.exists() and not final.is_symlink():
        os.replace(old, final)


def remove_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove the temporaries that a killed writer left in `folder` (for output `name`, or any output).

    Only what this module wrote: a hidden `.<name>.<random>.tmp` folder whose marker file names a process of
    this machine that is gone, or a `.<name>.<pid>@<host>.<random>.tmp` file whose process is gone. Anything
    else (a user's file, another machine's or a live process's temporary) is left alone. Where the writer
    was killed mid-swap (old output moved aside, new one not yet in place), the old output is put back
    first. Returns what it removed.
    """
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    removed = []
    host = _host()
    for p in entries:
        n = p.name
        if not (n.startswith(".") and n.endswith(".tmp")) or (name is not None and not n.startswith(f".{name}.")):
            continue
        with contextlib.suppress(OSError):
            if p.is_symlink():
                continue
            if p.is_dir():
                if (p / TMP_MARKER).is_file() and _owner_gone(p / TMP_MARKER, name):
                    _restore_old(p, folder)
                    shutil.rmtree(p)
                    removed.append(p)
            elif p.is_file():
                m = _TMP_FILE_RE.match(n)
                if (m and m["host"] == host and (name is None or m["name"] == name)
                        and not _alive(int(m["pid"]))):
                    p.unlink()
                    removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; on success it replaces `final` in one rename.

    On any exception the temporary directory is removed and an existing `final` is left untouched. A SIGKILL
    leaves the temporary directory (with the old `final` inside if it fell mid-swap); the next atomic_dir of
    `final`, or `remove_stale_temps`, removes it (putting that old `final` back).
    """
    final = Path(final)
    remove_stale_temps(final.parent, final.name)  # what a killed earlier writer of `final` left
    if final.exists() and not overwrite:
        from .errors import UserError

        raise UserError(f"{final} already exists; pass --overwrite to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    # .<name>.<random>.tmp/{.ug-atomic-tmp, <name>/}: the marker proves the folder ours to a later cleanup
    box = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        pid = os.getpid()
        (box / TMP_MARKER).write_text(json.dumps({"kind": _MARKER_KIND, "for": final.name, "pid": pid,
                                                  "start": _proc_start(pid), "host": _host()}) + "\n")
        tmp = box / final.name
        tmp.mkdir()  # a plain mkdir's mode (mkdtemp's box is 0700)
        yield tmp
        kill_point(f"dir:{final.name}")
        old = box / f"{final.name}.old"
        if final.exists():
            os.replace(final, old)
            kill_point(f"swap:{final.name}")
        try:
            os.replace(tmp, final)
        except BaseException:
            if old.exists() and not final.exists():  # the new one could not go in: the old one goes back
                os.replace(old, final)
            raise
    finally:
        shutil.rmtree(box, ignore_errors=True)
