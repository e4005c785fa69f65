"""Usage mistakes on any of the three CLIs give click's one-line error and exit 2, never a traceback.

typer vendors its own click (`typer._click`), whose exceptions are not `click`'s: the shared runner
(ugcore/cli.py) must catch both, which a plain `except click.ClickException` did not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("argv, expected", [
    (["ugdata", "build", "--bogus"], "No such option"),
    (["ugbench", "leaderboard", "validate", "x.json"], "Missing option"),
    (["uge", "train"], "Missing option"),
    (["ugbench", "evaluate", "--model", "random", "--batch-size", "many"], "Invalid value"),
])
def test_usage_error_is_one_line(argv, expected):
    proc = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert expected in proc.stderr
