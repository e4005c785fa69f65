"""`ugbench`: evaluate models on urban tasks, search geo-multimedia indexes, manage leaderboards."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from ugcore.cli import run_app

from . import commands

app = typer.Typer(
    name="ugbench",
    help="Score any embedding model on UGBench urban tasks and publish the results.\n\n"
    "Start with `ugbench list-tasks` and `ugbench list-models`, then "
    "`ugbench evaluate --model NAME_OR_PATH --data UGDATA_DIR --tasks all --output results/`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{_mod.name}").register(app)


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
