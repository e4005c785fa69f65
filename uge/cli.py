"""`uge`: train UGE embedders."""

from __future__ import annotations

import typer

from ugdata.common.cli import run_app

app = typer.Typer(
    name="uge",
    help="Train UGE embedders: LoRA on a vision-language backbone (stage 1), then a graph encoder (stage 2).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
