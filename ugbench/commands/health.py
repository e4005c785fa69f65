"""`ugbench health`: per task, chance level and every model's score with its interval, and the flags of #14."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ugcore.errors import UserError


def _check_file_target(path: Path | None, flag: str) -> None:
    """Refuse an output path that cannot become a file before any work: a folder there, or a file above it."""
    if path is None:
        return
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name (e.g. {path / 'report.json'})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a folder")
            break


def register(app: typer.Typer) -> None:
    @app.command("health")
    def health_cmd(
        results: Optional[list[Path]] = typer.Argument(
            None, help="Results folders: the --output folder of `ugbench evaluate` (one sub-folder per model) "
            "or single model folders (OUTPUT/<model-slug>), any number. Give at least the baselines: random, "
            "bm25, minilm and an untrained multimodal backbone (or pass --run-baselines)."),
        data: Path = typer.Option(..., "--data", "-d", help="The UGData directory the results were computed on "
                                  "(chance levels are computed from its queries)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the report as JSON here (atomically)."),
        markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write the report as a Markdown page "
                                                "here, e.g. docs/benchmark-health.md."),
        split: str = typer.Option("test", "--split", help="The split reported (the leaderboard ranks 'test')."),
        tasks: Optional[str] = typer.Option(None, "--tasks", "-t", help="Comma-separated task names (default: "
                                            "every task the results hold)."),
        max_half_width: float = typer.Option(0.05, "--max-half-width", help="Flag `wide_interval` when a 95% "
                                             "interval is wider than +- this (half of hi - lo)."),
        task_cards: Optional[Path] = typer.Option(None, "--task-cards", help="Task cards whose `- **Known "
                                                  "flag:**` bullets explain flags (default: docs/tasks.md of "
                                                  "this source tree, when present)."),
        run_baselines: bool = typer.Option(False, "--run-baselines", help="First run `ugbench evaluate` for each "
                                           "of --baselines into the (single) RESULTS folder; results already "
                                           "there are kept, so only what is missing is computed."),
        baselines: Optional[str] = typer.Option(None, "--baselines", help="Comma-separated models "
                                                "--run-baselines evaluates (as `--model` takes them); default: "
                                                "those of `ugbench leaderboard baselines` (random, bm25, minilm, "
                                                "tiny-qwen2-vl)."),
        device: Optional[str] = typer.Option(None, "--device", help="Torch device for --run-baselines."),
        seed: int = typer.Option(0, "--seed", help="Seed of --run-baselines' evaluation (intervals, probes)."),
    ) -> None:
        """Benchmark health: can each task tell models apart, and is it free of leaks? Per task: the number of
        queries, the analytic chance level of the main score (with the interval a random-order model falls in
        95% of the time) and each model's main score with its 95% bootstrap interval, and three flags:
        `random_off_chance` (the random model scores outside the chance interval: a leak or a scoring bug),
        `text_only_wins` (on a task whose query and document modalities differ, a text-only model above
        chance beats every multimodal one), `wide_interval` (a 95% interval wider than +-.05).

        A bullet `- **Known flag:** `NAME`: reason` in the task's card
        (docs/tasks.md) explains a flag. Details: docs/ugbench.md.

        Exit code: 0 when no flag is unexplained, 1 when one is,
        2 for a usage error.

        Examples:

          ugbench health --data data/helsinki outputs/baselines \\
              --out health.json --markdown docs/benchmark-health.md

          ugbench health --data data/helsinki outputs/health --run-baselines
        """
        from rich.console import Console

        from ugbench.health import default_task_cards, health_report, load_models, print_report, write_report

        paths = list(results or [])
        if not paths:
            raise UserError("give at least one results folder (the --output folder of `ugbench evaluate`), e.g. "
                            "`ugbench health --data DIR outputs/baselines`")
        if max_half_width <= 0:
            raise UserError(f"--max-half-width must be > 0 (got {max_half_width})")
        _check_file_target(out, "--out")
        _check_file_target(markdown, "--markdown")
        if task_cards is not None and not task_cards.is_file():
            raise UserError(f"--task-cards {task_cards} is not a file; give the task cards page (docs/tasks.md)")
        task_list = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
        if run_baselines:
            if len(paths) != 1:
                raise UserError(f"--run-baselines writes into one results folder; got {len(paths)} "
                                f"({', '.join(map(str, paths))})")
            from ugbench.leaderboard.baselines import DEFAULT_BASELINES

            models = list(DEFAULT_BASELINES) if baselines is None else [m.strip() for m in baselines.split(",")
                                                                         if m.strip()]
            _run_baselines(data, paths[0], models, task_list, device, seed)
        report = health_report(data, load_models(paths), split=split, tasks=task_list,
                               max_half_width=max_half_width, task_cards=task_cards or default_task_cards())
        console = Console() if Console().is_terminal else Console(width=200)
        print_report(report, console)
        write_report(report, out, markdown)
        for what, p in (("report", out), ("page", markdown)):
            if p is not None:
                console.print(f"wrote {what} {p}", highlight=False, markup=False)
        if report["summary"]["n_unexplained"]:
            raise typer.Exit(1)


def _run_baselines(data: Path, out: Path, models: list[str], tasks: list[str] | None, device: str | None,
                   seed: int) -> None:
    """`ugbench evaluate` for each baseline into OUT, as `ugbench leaderboard baselines` runs them (without
    submitting): existing results are kept, so a rerun computes only what is missing."""
    from rich.console import Console

    from ugbench.evaluation import evaluate

    if not models:
        raise UserError("--baselines is empty; name the models to evaluate, e.g. random,bm25")
    console = Console(stderr=True)
    failed = []
    for model in models:
        console.print(f"health: evaluating baseline {model} on {data}", highlight=False, markup=False)
        try:
            evaluate(model, data, tasks=tasks or "all", output=out, seed=seed, device=device, show_progress=False,
                     console=console)
        except UserError as e:
            failed.append(f"{model}: {e}")
    if failed:
        raise UserError(f"{len(failed)} of {len(models)} baselines failed: " + "; ".join(failed))
