"""A test-only fault hook: die by SIGKILL at a named point, to prove that a kill there loses nothing.

    UG_TEST_KILL_AT=<point>[#N]      SIGKILL this process the N-th time (default 1st) it reaches <point>

The points (each a plain string passed to `kill_point`):
    dir:<name>         ugcore.atomic.atomic_dir: the folder <name> is fully written in its temporary
                       place, not yet renamed into place (ugdata build, search indexes, UGE checkpoints, ...)
    swap:<name>        atomic_dir with overwrite: the old <name> is moved aside, the new one not yet in place
    write:<name>       write_bytes_atomic: the new <name> is written and fsynced in its temporary file, not
                       yet renamed over the old one (results JSON, leaderboards, cache chunks, ...)
    uge.step:<k>       uge train: optimizer step k is done and logged, before any checkpoint of it

Unset (always, outside tests) it costs one environment lookup. Nothing else reads the variable, and a process
never kills itself for any other reason; tests/integration/test_kill9_faults.py uses it to kill the real CLIs
mid-work at exactly these moments.
"""

from __future__ import annotations

import os
import signal

ENV = "UG_TEST_KILL_AT"
_seen: dict[str, int] = {}


def kill_point(point: str) -> None:
    """SIGKILL this process if $UG_TEST_KILL_AT names `point` (and this is the N-th time it is reached)."""
    want = os.environ.get(ENV)
    if not want:
        return
    name, _, nth = want.partition("#")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
