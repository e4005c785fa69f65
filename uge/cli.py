"""`uge`: train UGE embedders (and CSSR: `uge cssr train`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ugcore.cli import run_app

from .cssr.cli import app as cssr_app

app = typer.Typer(
    name="uge",
    help="Train UGE embedders: LoRA on a vision-language backbone (stage 1), then a graph encoder (stage 2).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cssr_app, name="cssr")


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="""Train stage 1 or 2 from a YAML config, with dotted overrides after it.

    Examples:

      uge train --config configs/uge/tiny-qwen2-vl-stage1.yaml data.path=/tmp/ugdata train.max_steps=50

      uge train --config configs/uge/qwen2-vl-2b-stage2.yaml train.init_adapter=outputs/qwen2-vl-2b-stage1/final

      accelerate launch --config_file configs/accelerate/multi_gpu_ddp.yaml -m uge.train --config CFG [overrides]

    Every config key can be overridden (optim.lr=1e-4 lora.r=8 logging.wandb=disabled); unknown keys are errors
    with a suggestion. The run directory (train.output_dir) gets config.yaml, metrics.jsonl, tensorboard/,
    checkpoint-<step>/ (resumable: train.resume_from=latest) and final/ (load with
    `ugbench evaluate --model RUN/final`).
    """,
)
def train_cmd(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="YAML config (see configs/uge/)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
) -> None:
    from rich.console import Console

    from .config import dump_config, load_config

    cfg = load_config(config, list(ctx.args))
    if print_config:
        typer.echo(dump_config(cfg))
        return
    from .train import SimulatedKill, train

    try:
        final = train(cfg)
    except SimulatedKill as e:
        Console(stderr=True).print(f"[yellow]{e}[/]")
        raise typer.Exit(3) from None
    Console(stderr=True).print(f"[green]done:[/] final model in {final} (evaluate: ugbench evaluate --model {final})")


@app.command(
    "check-config",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="Validate a config (and overrides) without training; prints the resolved config.",
)
def check_config_cmd(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c"),
) -> None:
    from .config import dump_config, load_config

    typer.echo(dump_config(load_config(config, list(ctx.args))))


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
