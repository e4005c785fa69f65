"""Run a project CLI in-process as a shell would, for the bad-input tests (one copy, used by every test folder).

argv is set, the exit code caught, the terminal made wide (rich must not wrap a one-line message), and stdout
and stderr returned. Importable from any test module: pytest puts tests/ on sys.path for tests/conftest.py.
"""

from __future__ import annotations

import importlib
import sys

ENTRY_POINTS = {"ugdata": "ugdata.cli", "uge": "uge.cli", "ugbench": "ugbench.cli"}


def run_cli(capsys, monkeypatch, prog: str, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `prog *args`; prog is ugdata, uge or ugbench."""
    main = importlib.import_module(ENTRY_POINTS[prog]).main
    monkeypatch.setattr(sys, "argv", [prog, *map(str, args)])
    monkeypatch.setenv("COLUMNS", "1000")
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err
