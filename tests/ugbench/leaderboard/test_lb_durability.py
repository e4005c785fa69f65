"""Durability: concurrent submissions from several processes all land; kill -9 or a failure at any moment
leaves a complete leaderboard; read-only and corrupt leaderboards are refused with nothing lost.

Processes are forked from the test process (already holding the imports), so a kill costs milliseconds
and the test can kill many writers at random moments within its time budget.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import stat
import time

import pytest
from lb_helpers import PERC, make_spec, random_scores, write_results

import ugbench.leaderboard.store as store
from ugbench.leaderboard import load_leaderboard, submit
from ugbench.leaderboard.models import Leaderboard
from ugbench.leaderboard.verify import verify
from ugcore.errors import UserError


@pytest.fixture
def env(tmp_path):
    lb = tmp_path / "lb" / "ugbench.json"
    lb.parent.mkdir()
    spec = make_spec(lb.parent / "ugbench.benchmark.json")
    return tmp_path, lb, spec


def _submit_slowly(results_dir, lb, go) -> None:
    real = store.load_leaderboard

    def slow_load(path):  # widen the read-modify-write window: without the lock, updates would be lost
        out = real(path)
        time.sleep(0.2)
        return out

    store.load_leaderboard = slow_load
    go.wait(10)
    submit(results_dir, lb)


def test_concurrent_submissions_from_processes_all_land(env):
    tmp, lb, spec = env
    ctx = mp.get_context("fork")
    go = ctx.Event()
    dirs = [write_results(tmp / f"r{i}", spec, f"model-{i}", random_scores(100 + i)) for i in range(4)]
    procs = [ctx.Process(target=_submit_slowly, args=(d, lb, go)) for d in dirs]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    board = load_leaderboard(lb)
    assert sorted(e.model.name for e in board.entries) == [f"model-{i}" for i in range(4)]
    assert verify(board) == []


def _big_board(env, n: int = 150) -> None:
    tmp, lb, spec = env
    submit(write_results(tmp / "seed", spec, "seed", random_scores(0)), lb)
    board = load_leaderboard(lb)
    e = board.entries[0]
    copies = [e.model_copy(update={"model": e.model.model_copy(update={"name": f"filler-{i}"})}) for i in range(n)]
    lb.write_text(Leaderboard(benchmark=board.benchmark, entries=[e, *copies]).model_dump_json(indent=2))


def test_kill_9_at_random_moments_never_corrupts(env):
    """Writers are killed at random moments, and (every other round) the instant their temp file appears,
    so some kills provably land mid-write; after each, the leaderboard parses, validates and is whole."""
    tmp, lb, spec = env
    _big_board(env)  # ~0.5 MB, so a write takes long enough to be hit
    dirs = [write_results(tmp / f"k{i}", spec, "victim", random_scores(200 + i)) for i in range(3)]
    rng = random.Random(0)
    n_before = len(load_leaderboard(lb).entries)
    mid_write = rounds = 0
    while rounds < 12 or (mid_write < 3 and rounds < 60):
        rounds += 1
        pid = os.fork()
        if pid == 0:  # child: submit forever until killed
            try:
                i = 0
                while True:
                    submit(dirs[i % 3], lb, replace=True)
                    i += 1
            finally:
                os._exit(1)
        if rounds % 2:
            time.sleep(rng.uniform(0.0, 0.25))
        else:
            deadline = time.monotonic() + 5
            while not list(lb.parent.glob(".ugbench.json.*.tmp")) and time.monotonic() < deadline:
                pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        mid_write += bool(list(lb.parent.glob(".ugbench.json.*.tmp")))  # killed before its rename
        board = load_leaderboard(lb)  # parses and follows the schema
        assert verify(board) == []
        assert len(board.entries) in (n_before, n_before + 1)
        victims = [e for e in board.entries if e.model.name == "victim"]
        if victims:
            assert victims[0].scores[PERC].value in [random_scores(200 + i)[PERC] for i in range(3)]
    assert mid_write >= 3, f"only {mid_write} of {rounds} kills landed mid-write"
    submit(dirs[0], lb, replace=True)  # the next writer cleans up what killed writers left
    assert not list(lb.parent.glob(".ugbench.json.*.tmp"))


def test_kill_between_temp_write_and_rename_leaves_old_file(env):
    tmp, lb, spec = env
    submit(write_results(tmp / "a", spec, "a", random_scores(1)), lb)
    before = lb.read_bytes()
    marker = tmp / "temp-written"
    pid = os.fork()
    if pid == 0:
        try:
            def stalled_replace(src, dst):
                marker.touch()
                time.sleep(60)

            os.replace = stalled_replace
            submit(write_results(tmp / "b", spec, "b", random_scores(2)), lb)
        finally:
            os._exit(1)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), "the child never reached the rename"
    assert list(lb.parent.glob(".ugbench.json.*.tmp")), "the new content should be in a temp file"
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert lb.read_bytes() == before
    submit(write_results(tmp / "c", spec, "c", random_scores(3)), lb)
    assert [e.model.name for e in load_leaderboard(lb).entries] == ["a", "c"]
    assert not list(lb.parent.glob(".ugbench.json.*.tmp"))


def test_failure_at_rename_is_a_clear_error_and_loses_nothing(env, monkeypatch):
    tmp, lb, spec = env
    submit(write_results(tmp / "a", spec, "a", random_scores(4)), lb)
    before = lb.read_bytes()

    def failing_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(UserError, match="nothing was written"):
        submit(write_results(tmp / "b", spec, "b", random_scores(5)), lb)
    monkeypatch.undo()
    assert lb.read_bytes() == before
    assert not list(lb.parent.glob(".ugbench.json.*.tmp"))


def test_read_only_leaderboard_and_folder(env):
    tmp, lb, spec = env
    submit(write_results(tmp / "a", spec, "a", random_scores(6)), lb)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(lb.stat().st_mode) == 0o666 & ~umask  # readable by others, not mkstemp's 0600
    before = lb.read_bytes()
    d = write_results(tmp / "b", spec, "b", random_scores(7))
    lb.chmod(0o444)
    try:
        with pytest.raises(UserError, match="is read-only; nothing was written"):
            submit(d, lb)
    finally:
        lb.chmod(0o644)
    assert lb.read_bytes() == before
    lb.parent.chmod(0o555)
    try:
        with pytest.raises(UserError, match="read-only"):
            submit(d, lb)
    finally:
        lb.parent.chmod(0o755)
    assert lb.read_bytes() == before
    assert stat.S_IMODE(lb.stat().st_mode) == 0o644


@pytest.mark.parametrize("content", [b"{ not json", b'{"schema_version": "1.0"}', b"\xff\xfe"])
def test_corrupt_leaderboard_is_refused_not_overwritten(env, content):
    tmp, lb, spec = env
    lb.write_bytes(content)
    with pytest.raises(UserError, match="restore it from git"):
        submit(write_results(tmp / "a", spec, "a", random_scores(8)), lb)
    assert lb.read_bytes() == content
