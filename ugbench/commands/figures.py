"""`ugbench figures ...`: draw the map, retrieval examples, leaderboard charts and training loss curves as PNGs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True)

figures_app = typer.Typer(
    name="figures",
    help="Draw deterministic PNG figures (same inputs -> same bytes).\n\n"
    "`ugbench figures all --data DATA --leaderboard lb.json --runs RUN1 --runs RUN2 --model NAME --out figs/` "
    "draws every figure whose inputs you give (and says which it skipped); the subcommands draw one each: "
    "map (the city, anchored views, a reasoning path), retrieval (queries, top-k results, truth), bars and "
    "radar (per-family means per model from a leaderboard), losses (UGE training loss per stage).",
    no_args_is_help=True,
)

DATA_HELP = "A UGData directory (from `ugdata build`)."
MODEL_HELP = ("Model to rank with: a registry name or alias (`ugbench list-models`), a local model folder, a UGE "
              "checkpoint (folder with ugbench_model.json), or `module:attr`.")
LB_HELP = "A leaderboard JSON (from `ugbench submit`)."
RUNS_HELP = ("A `uge train` run directory (its metrics.jsonl and config.yaml) or a metrics.jsonl file; repeat "
             "the option for several runs, e.g. --runs outputs/stage1 --runs outputs/stage2.")


def _with_progress(names: list[str], work: Callable[[Callable[[str], None]], object]) -> object:
    """Run `work(start)`; `start(name)` advances a rich bar to the figure being drawn."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console, transient=True)
    with progress:
        bar = progress.add_task("figures", total=len(names))
        state = {"started": 0}

        def start(name: str) -> None:
            if state["started"]:
                progress.advance(bar)
            state["started"] += 1
            progress.update(bar, description=f"drawing {name}")

        result = work(start)
        progress.update(bar, completed=len(names))
    return result


def _one(name: str, fn: Callable[[], Path]) -> None:
    path = _with_progress([name], lambda start: (start(name), fn())[1])
    console.print(f"wrote {path}")


@figures_app.command("all")
def all_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the PNGs (created if absent)."),
    data: Path | None = typer.Option(None, "--data", "-d", help=DATA_HELP + " Needed by map and retrieval."),
    leaderboard: Path | None = typer.Option(None, "--leaderboard", "-l", help=LB_HELP + " Needed by bars and radar."),
    runs: list[Path] | None = typer.Option(None, "--runs", "-r", help=RUNS_HELP + " Needed by losses."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP + " Needed (with --data) by retrieval."),
    task: str = typer.Option("retrieval_caption2image", "--task", help="Ranking task of the retrieval grid."),
    n_queries: int = typer.Option(4, "--n-queries", min=1, help="Queries in the retrieval grid."),
    k: int = typer.Option(5, "--k", min=1, help="Top results shown per query."),
    seed: int = typer.Option(0, "--seed", help="Picks the queries and orders tied documents for display (metrics score ties as expected values)."),
) -> None:
    """Draw every figure whose inputs are given into OUT; skipped figures are listed with what they need.

    Files: map.png, retrieval_grid.png, family_bars.png, family_radar.png, loss_curves.png.
    """
    from ugbench.figures.make_all import check_inputs, make_all, plan

    inputs = {"data": data, "leaderboard": leaderboard, "runs": runs or [], "model": model, "task": task,
              "n_queries": n_queries, "k": k, "seed": seed}
    check_inputs(**inputs)  # before the progress bar, so a bad input is one clean line
    ready = [j.name for j in plan(**inputs) if j.ready]
    res = _with_progress(ready, lambda start: make_all(out, on_start=start, **inputs))
    for name, path in res.written.items():
        console.print(f"[green]wrote[/] {name}: {path}")
    for name, why in res.skipped.items():
        console.print(f"[yellow]skipped[/] {name}: {why}")
    if not res.written:
        from ugcore.errors import UserError

        raise UserError("no figure drawn: pass at least one of --data, --leaderboard, --runs (see --help)")


@figures_app.command("map")
def map_cmd(
    data: Path = typer.Option(..., "--data", "-d", help=DATA_HELP),
    out: Path = typer.Option(Path("map.png"), "--out", "-o", help="PNG to write."),
    city: str | None = typer.Option(None, "--city", help="City to draw (default: the first)."),
    path_id: str | None = typer.Option(None, "--path-id", help="Reasoning path to draw (default: ugdata's pick)."),
) -> None:
    """The city's street graph, anchored views coloured by split, and one reasoning path (ugdata's plot)."""
    from ugbench.figures import map_figure

    _one("map", lambda: map_figure(data, out, city=city, path_id=path_id))


@figures_app.command("retrieval")
def retrieval_cmd(
    data: Path = typer.Option(..., "--data", "-d", help=DATA_HELP),
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    out: Path = typer.Option(Path("retrieval_grid.png"), "--out", "-o", help="PNG to write."),
    task: str = typer.Option("retrieval_caption2image", "--task", help="A ranking task (`ugbench list-tasks`)."),
    split: str = typer.Option("test", "--split", help="Split the queries come from."),
    n_queries: int = typer.Option(4, "--n-queries", min=1, help="Queries (rows) to show."),
    k: int = typer.Option(5, "--k", min=1, help="Top results shown per query."),
    seed: int = typer.Option(0, "--seed", help="Picks the queries and orders tied documents for display (metrics score ties as expected values)."),
) -> None:
    """A grid of retrieval examples: query text | top-k documents with rank and score | the truth.

    Green frame = relevant, red = not; the row title says hit@1 or the truth's rank. Example:
    ugbench figures retrieval --data data/helsinki --model random --out figs/retrieval_grid.png
    """
    from ugbench.figures import retrieval_grid

    _one("retrieval", lambda: retrieval_grid(data, model, task=task, n_queries=n_queries, k=k, out=out,
                                             split=split, seed=seed).out)


@figures_app.command("bars")
def bars_cmd(
    leaderboard: Path = typer.Option(..., "--leaderboard", "-l", help=LB_HELP),
    out: Path = typer.Option(Path("family_bars.png"), "--out", "-o", help="PNG to write."),
) -> None:
    """Grouped bars: per task family, one bar per model (the leaderboard's family means, x100)."""
    from ugbench.figures import family_bars

    _one("bars", lambda: family_bars(leaderboard, out))


@figures_app.command("radar")
def radar_cmd(
    leaderboard: Path = typer.Option(..., "--leaderboard", "-l", help=LB_HELP),
    out: Path = typer.Option(Path("family_radar.png"), "--out", "-o", help="PNG to write."),
) -> None:
    """A radar chart of the per-family means of each model (one axis per family)."""
    from ugbench.figures import radar

    _one("radar", lambda: radar(leaderboard, out))


@figures_app.command("losses")
def losses_cmd(
    runs: list[Path] = typer.Option(..., "--runs", "-r", help=RUNS_HELP),
    out: Path = typer.Option(Path("loss_curves.png"), "--out", "-o", help="PNG to write."),
    smoothing: float = typer.Option(0.6, "--smoothing", min=0.0, max=0.99, help="EMA weight of the smoothed line."),
) -> None:
    """UGE training loss vs step, one panel per stage: raw (faint) and smoothed (bold)."""
    from ugbench.figures import loss_curves

    _one("losses", lambda: loss_curves(runs, out, smoothing=smoothing))


def register(app: typer.Typer) -> None:
    app.add_typer(figures_app, name="figures")
