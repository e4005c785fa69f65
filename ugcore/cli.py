"""Shared CLI runner: user mistakes become one red line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from .errors import UserError

err_console = Console(stderr=True)


def run_app(app: typer.Typer) -> None:
    """Run a typer app; UserError (and missing files) print one line and exit with code 2.

    A command's own exit code (`raise typer.Exit(1)`, e.g. `ugdata check` finding a problem) is kept: in
    non-standalone mode click returns it instead of exiting, so it is passed on to sys.exit here.
    Set UG_DEBUG=1 to see the full traceback instead.
    """
    try:
        rc = app(standalone_mode=False)
    except UserError as e:
        if os.environ.get("UG_DEBUG"):
            raise
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except FileNotFoundError as e:
        if os.environ.get("UG_DEBUG"):
            raise
        err_console.print(f"[bold red]error:[/] file not found: {e.filename or e}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click's usage errors come here in non-standalone mode
        usage, abort = _click_exception_types()
        if isinstance(e, usage):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, abort):
            sys.exit(1)
        raise
    if isinstance(rc, int) and not isinstance(rc, bool) and rc != 0:
        sys.exit(rc)


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(ClickException types, Abort types): typer >= 0.2x vendors its own click as `typer._click`, whose
    exceptions are not click's, so both families are matched."""
    usage: list[type] = []
    abort: list[type] = []
    for mod in ("typer._click.exceptions", "click.exceptions"):
        try:
            m = __import__(mod, fromlist=["ClickException"])
        except ImportError:
            continue
        usage += [m.ClickException] if hasattr(m, "ClickException") else []
        abort += [m.Abort] if hasattr(m, "Abort") else []
    return tuple(usage), tuple(abort)
