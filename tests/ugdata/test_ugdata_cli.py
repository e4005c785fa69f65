"""The CLI surface: info, check (exit codes), plot."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from ugdata.cli import app


def _run(args):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, args)


def test_info_and_check(small_dir):
    r = _run(["info", str(small_dir), "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["counts"]["images"] == 120
    r = _run(["check", str(small_dir)])
    assert r.exit_code == 0


def test_check_fails_on_tampering(small_dir, tmp_path):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(small_dir, copy)
    (copy / "graph" / "nodes.parquet").write_bytes(b"")
    r = _run(["check", str(copy)])
    assert r.exit_code != 0


def test_plot(small_dir, tmp_path):
    out = tmp_path / "map.png"
    r = _run(["plot", str(small_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    im = Image.open(out)
    assert im.size[0] > 400 and im.size[1] > 400


def test_help_teaches():
    r = _run(["build", "--help"])
    assert r.exit_code == 0
    for flag in ("--osm", "--clip", "--synth", "--views", "--images", "--max-snap-m", "--buffer-m", "--holdout-city"):
        assert flag in r.stdout


@pytest.mark.parametrize("args", [["info", "/nonexistent/dir"]])
def test_info_bad_dir(args):
    from ugcore.errors import UserError

    r = _run(args)
    assert r.exit_code != 0 or isinstance(r.exception, UserError)
