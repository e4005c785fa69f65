"""Both hand-edited leaderboard files (leaderboard, benchmark declaration) fail with one-line errors that name
the file, the first bad location and the fix; they share one loader (ugbench/leaderboard/_io.py)."""

from __future__ import annotations

import json

import pytest

from ugbench.leaderboard import store
from ugbench.leaderboard.benchmark import load_benchmark
from ugbench.leaderboard.store import load_leaderboard
from ugcore.errors import UserError


@pytest.mark.parametrize("content,message", [
    (None, r"leaderboard .*x\.json not found; `ugbench submit` creates it"),
    ("{not json", r"leaderboard .*x\.json is not valid JSON \(.*\); restore it from git before submitting"),
    (json.dumps({"schema_version": "1.0", "entries": []}),
     r"does not follow leaderboards/leaderboard\.schema\.json at \S+: .* \(\d+ error\(s\)\); restore it from git"),
])
def test_leaderboard_errors(tmp_path, content, message):
    p = tmp_path / "x.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises(UserError, match=message):
        load_leaderboard(p)


def test_leaderboard_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_LEADERBOARD_BYTES", 1_000_000)
    p = tmp_path / "big.json"
    p.write_text(" " * 2_100_000)
    with pytest.raises(UserError, match=r"is 2 MB, over the 1 MB limit; it is not a leaderboard file"):
        load_leaderboard(p)


@pytest.mark.parametrize("content,message", [
    (None, r"benchmark declaration .*b\.benchmark\.json not found; write one with `ugbench leaderboard declare "
           r"--data UGDATA_DIR --benchmark .*b\.benchmark\.json` or pass --benchmark FILE"),
    ("[1,", r"benchmark declaration .* is not valid JSON \(.*\); restore it from git$"),
    (json.dumps({"name": "ugbench"}), r"benchmark declaration .* is invalid at \S+: "),
])
def test_benchmark_errors(tmp_path, content, message):
    p = tmp_path / "b.benchmark.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises(UserError, match=message):
        load_benchmark(p)


def test_shipped_files_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "leaderboards"
    assert load_benchmark(root / "ugbench.benchmark.json").name == "ugbench"
    assert load_leaderboard(root / "ugbench.json").entries
