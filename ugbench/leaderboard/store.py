"""Reading and writing a leaderboard file: under a file lock, atomically, never losing what is there.

Concurrency: every read-modify-write holds an exclusive `filelock` on a sibling lock file, so two
submissions from two processes are serialised and both land. Crash safety: the new content goes to a
temporary sibling that is fsynced and then renamed over the old file (ugcore.atomic), so a
kill at any moment leaves either the old file or the new one, each complete. A temporary file left
by a killed writer is removed by the next writer (it holds the lock, so no one else is writing).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from ugcore.atomic import write_text_atomic
from ugcore.errors import UserError
from ugcore.provenance import utc_now

from ._io import load_json_model
from .models import BenchmarkSpec, Leaderboard

MAX_LEADERBOARD_BYTES = 256 * 1024 * 1024
LOCK_TIMEOUT_S = 120.0


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def load_leaderboard(path: str | Path) -> Leaderboard:
    """Parse and validate a leaderboard file; any defect is a UserError naming the file and the fix."""
    return load_json_model(
        path, Leaderboard, what="leaderboard", max_bytes=MAX_LEADERBOARD_BYTES,
        missing="`ugbench submit` creates it, or check the path",
        fix="restore it from git before submitting",
        schema_error="does not follow leaderboards/leaderboard.schema.json at {loc}: {msg} ({count} error(s)); "
                     "restore it from git",
    )


def check_writable(path: Path) -> None:
    """Refuse early, with the fix, when the leaderboard or its folder is read-only.

    The mode bits are honoured even for root (who could write anyway): a file made read-only was made
    so on purpose, e.g. a published leaderboard.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"leaderboard {path} is a folder; pass the leaderboard's .json file")
    if not folder.is_dir():
        raise UserError(f"folder {folder} for leaderboard {path.name} does not exist; create it first")
    if path.exists():
        mode = path.stat().st_mode
        if not (mode & stat.S_IWUSR) or not os.access(path, os.W_OK):
            raise UserError(f"leaderboard {path} is read-only; nothing was written "
                            f"(make it writable with `chmod u+w {path}` or pass another --leaderboard)")
    fmode = folder.stat().st_mode
    if not (fmode & stat.S_IWUSR) or not os.access(folder, os.W_OK):
        raise UserError(f"folder {folder} is read-only, so {path.name} cannot be replaced atomically; "
                        "nothing was written (make the folder writable or pass another --leaderboard)")


def write_public_text(path: str | Path, text: str) -> None:
    """write_text_atomic, then give the file the mode it had (or the umask's default for a new file).

    ugcore.atomic writes through mkstemp, whose files are 0600; a leaderboard or a rendered page is
    meant to be read by others (a web server, a CI job under another user), so the mode is restored.
    """
    p = Path(path)
    if p.exists():
        mode = stat.S_IMODE(p.stat().st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    write_text_atomic(p, text)
    os.chmod(p, mode)


def _remove_stale_temps(path: Path) -> None:
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def update_leaderboard(
    path: str | Path,
    spec: BenchmarkSpec,
    change: Callable[[Leaderboard], Leaderboard],
) -> Leaderboard:
    """Apply `change` to the leaderboard at `path` (a new one for `spec` if absent) and write it back.

    `change` runs under the lock on the freshest content, so checks it makes (duplicates) hold at write.
    If `change` raises, nothing is written.
    """
    p = Path(path)
    check_writable(p)
    try:
        with FileLock(str(lock_path(p)), timeout=LOCK_TIMEOUT_S):
            current = load_leaderboard(p) if p.exists() else Leaderboard(benchmark=spec)
            updated = change(current)
            updated.updated_at = utc_now()
            text = updated.model_dump_json(indent=2) + "\n"
            Leaderboard.model_validate_json(text)  # never write what we could not read back
            _remove_stale_temps(p)
            write_public_text(p, text)
            return updated
    except Timeout as e:
        raise UserError(f"another process has held the lock {lock_path(p)} for {LOCK_TIMEOUT_S:.0f} s; "
                        "wait for it, or remove the lock file if no submission is running") from e
    except PermissionError as e:
        raise UserError(f"cannot write {e.filename or p}: permission denied; nothing was written "
                        f"(the leaderboard {p} is unchanged)") from e
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise UserError(f"cannot write leaderboard {p}: {e.strerror or e}; nothing was written "
                        "(the previous file is unchanged)") from e
