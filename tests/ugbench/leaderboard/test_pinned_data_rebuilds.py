"""The shipped benchmark can be rebuilt: its declared build command, run here, gives exactly the pinned data
fingerprint. Fails when the builder's output changes (then the benchmark needs a new version: `ugbench leaderboard
declare --version ...`) and failed, before the fingerprint hashed content, when a pyarrow/pandas patch release
changed the files' bytes but not the data."""

from __future__ import annotations

import shlex
from pathlib import Path

from typer.testing import CliRunner

import ugdata
from ugbench.leaderboard.benchmark import load_benchmark
from ugdata.cli import app

ROOT = Path(__file__).resolve().parents[3]


def test_declared_build_reproduces_the_pinned_fingerprint(tmp_path):
    spec = load_benchmark(ROOT / "leaderboards" / "ugbench.benchmark.json")
    for name, ds in spec.datasets.items():
        args = shlex.split(ds.build)
        assert args[:2] == ["ugdata", "build"] and "DIR" in args, ds.build
        out = tmp_path / name
        res = CliRunner().invoke(app, [str(out) if a == "DIR" else a for a in args[1:]])
        assert res.exit_code == 0, res.output
        assert ugdata.load(out).fingerprint == ds.fingerprint, (name, ds.build)
