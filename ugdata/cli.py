"""`ugdata`: build, inspect, check and plot UGData directories."""

from __future__ import annotations

import typer

from ugdata.common.cli import run_app

app = typer.Typer(
    name="ugdata",
    help="Build UGData: street views anchored to an OpenStreetMap spatial graph, with captions, "
    "reasoning paths, splits and benchmark task data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
