"""`ugbench submit` and `ugbench leaderboard ...`: put results on a leaderboard and publish it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ugcore.errors import UserError

console = Console(soft_wrap=True)

leaderboard_app = typer.Typer(
    name="leaderboard",
    help="Manage UGBench leaderboards: declare the benchmark, validate a leaderboard file, render it as "
    "Markdown + an offline HTML page, publish its JSON Schema, compute the baseline entries.\n\n"
    "Typical flow: `ugbench evaluate ... --output results/` -> `ugbench submit results/ --leaderboard "
    "leaderboards/ugbench.json` -> `ugbench leaderboard render --leaderboard leaderboards/ugbench.json --out site/`.",
    no_args_is_help=True,
)


def submit_cmd(
    results_dir: Path = typer.Argument(..., help="The --output folder of `ugbench evaluate`: one model's folder "
                                       "(<task>.json files) or a folder of model folders (each becomes an entry)."),
    leaderboard: Path = typer.Option(..., "--leaderboard", "-l", help="Leaderboard JSON to add to (created if absent)."),
    benchmark: Path | None = typer.Option(
        None, "--benchmark", help="Benchmark declaration (task set, versions, data fingerprints). "
        "Default: the .benchmark.json beside the leaderboard (ugbench.json -> ugbench.benchmark.json)."),
    replace: bool = typer.Option(False, "--replace", help="Replace an entry of the same model, revision and "
                                 "benchmark version (refused otherwise)."),
    partial: bool = typer.Option(False, "--partial", help="Accept results missing some declared tasks; the entry is "
                                 "shown as partial, with no overall means and no rank."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, write nothing."),
    max_file_mb: float = typer.Option(20.0, "--max-file-mb", help="Refuse results files larger than this."),
) -> None:
    """Validate a results folder and add it to a leaderboard.

    Every file is checked (results schema and version, finite in-range scores, task versions and dataset
    fingerprints against the benchmark declaration, completeness); aggregates are recomputed here, never
    read from the submission. A rejected submission lists every problem found and writes nothing.
    """
    from ugbench.leaderboard import benchmark as bm
    from ugbench.leaderboard.submit import prepare_entries, submit

    max_bytes = int(max_file_mb * 1024 * 1024)
    if dry_run:
        spec = bm.load_benchmark(benchmark or bm.default_declaration_path(leaderboard))
        entries = prepare_entries(results_dir, spec, partial=partial, max_file_bytes=max_bytes)
        verb = "would add"
    else:
        entries = submit(results_dir, leaderboard, benchmark=benchmark, replace=replace, partial=partial,
                         max_file_bytes=max_bytes)
        verb = "added"
    for e in entries:
        a = e.aggregates
        mean = "n/a (partial)" if a.mean_over_families is None else f"{100 * a.mean_over_families:.2f}"
        console.print(f"{verb} {e.model.name} ({e.model.revision}) to {leaderboard}: "
                      f"{a.n_tasks}/{a.n_declared_tasks} tasks, mean over families {mean}"
                      + (" [partial]" if e.partial else "") + (" (replaced)" if e.replaced else ""),
                      highlight=False, markup=False)
        for ignored in e.source.ignored_files:
            console.print(f"  ignored {ignored}", highlight=False, markup=False)


@leaderboard_app.command("render")
def render_cmd(
    leaderboard: Path = typer.Option(..., "--leaderboard", "-l", help="Leaderboard JSON to render."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for leaderboard.md and index.html."),
    results: list[Path] = typer.Option([], "--results", help="A folder holding the entries' results folders (as "
                                       "submitted, e.g. outputs/baselines); repeatable. Their per-query files let "
                                       "neighbouring ranks be compared by a paired test over the same queries; "
                                       "without them, by whether their 95% intervals overlap."),
    seed: int = typer.Option(0, "--seed", help="Seed of the paired bootstrap and permutation draws."),
) -> None:
    """Write leaderboard.md and a static, offline index.html from a leaderboard.

    The page works from the file system (inline CSS/JS, no network): a table grouped by task family, sortable
    by clicking a header, a zero-shot filter and a chart of family means per model. Every score shows its 95%
    interval, and each rank says whether it is distinguishable from the next (a paired test when --results
    holds both entries' per-query values, else interval overlap). Entries of older benchmark versions are
    listed apart as history. Every submitted string is escaped.
    Example: ugbench leaderboard render --leaderboard leaderboards/ugbench.json --out site/ --results outputs/baselines
    """
    from ugbench.leaderboard import load_leaderboard, render

    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise UserError(f"--out {out}: {'it' if p == out else p} is a file, not a folder; give a folder "
                                "for leaderboard.md and index.html")
            break
    missing = [str(r) for r in results if not r.is_dir()]
    if missing:
        raise UserError(f"--results {missing[0]} is not a folder; give the folder the entries' results were "
                        "submitted from (e.g. outputs/baselines)")
    lb = load_leaderboard(leaderboard)
    md, page = render(lb, out, results=results or None, seed=seed)
    console.print(f"wrote {md} and {page} ({len(lb.current_entries())} entries)", highlight=False, markup=False)


@leaderboard_app.command("validate")
def validate_cmd(
    leaderboard: Path = typer.Option(..., "--leaderboard", "-l", help="Leaderboard JSON to check."),
) -> None:
    """Check a leaderboard file: its schema, unique entries, and every aggregate recomputed from its scores."""
    from ugbench.leaderboard.submit import SubmissionRejected
    from ugbench.leaderboard.verify import verify_file

    problems = verify_file(leaderboard)
    if problems:
        raise SubmissionRejected(problems, what=f"leaderboard {leaderboard}")
    console.print(f"{leaderboard}: valid", highlight=False, markup=False)


@leaderboard_app.command("schema")
def schema_cmd(
    out: Path = typer.Option(Path("leaderboards/leaderboard.schema.json"), "--out", "-o",
                             help="Where to write the JSON Schema of leaderboard files."),
) -> None:
    """Write the published JSON Schema of leaderboard files (generated from the pydantic model)."""
    from ugbench.leaderboard.models import json_schema
    from ugbench.leaderboard.store import write_public_text

    write_public_text(out, json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {out}", highlight=False, markup=False)


@leaderboard_app.command("declare")
def declare_cmd(
    data: Path = typer.Option(..., "--data", help="The UGData directory the benchmark runs on (its fingerprint is "
                              "pinned)."),
    benchmark: Path = typer.Option(Path("leaderboards/ugbench.benchmark.json"), "--benchmark",
                                   help="Declaration file to write."),
    name: str = typer.Option("ugbench", "--name", help="Benchmark name."),
    version: str = typer.Option(..., "--version", help="Benchmark version; bump it whenever the task set, a task "
                                "version or the data changes."),
    tasks: str = typer.Option("all", "--tasks", help="Comma-separated task names, or 'all' (every task of the "
                              "registry that the data holds)."),
    dataset_name: str = typer.Option("default", "--dataset-name", help="Name of the dataset in the declaration."),
    build: str = typer.Option("", "--build", help="The command that rebuilds the data (shown to submitters)."),
    description: str = typer.Option("", "--description", help="One paragraph shown on the page."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different declaration of the same version."),
) -> None:
    """Write the benchmark declaration: task set from ugbench's registry, data fingerprint from --data.

    Bump --version whenever the task set, a task version or the data changes; entries keep the version
    they were ranked under. Example: ugbench leaderboard declare --data data/helsinki --version 1.0
    """
    import ugdata
    from ugbench.leaderboard import benchmark as bm

    ug = ugdata.load(data)  # NotUGDataError is a UserError
    available = bm.tasks_for_data(ug)
    chosen = list(available) if tasks == "all" else [t.strip() for t in tasks.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in available]
    if unknown:
        raise UserError(f"tasks {unknown} are not both registered in ugbench and present in {data}; "
                        f"available: {sorted(available)}")
    spec = bm.declare(name=name, version=version, dataset_name=dataset_name, fingerprint=ug.fingerprint,
                      tasks=[available[t] for t in chosen], description=description, build=build)
    bm.write_benchmark(spec, benchmark, overwrite=overwrite)
    console.print(f"wrote {benchmark}: {spec.name} {spec.version}, {len(spec.tasks)} tasks in "
                  f"{len(spec.families)} families, data {ug.fingerprint}", highlight=False, markup=False)


@leaderboard_app.command("baselines")
def baselines_cmd(
    data: Path = typer.Option(..., "--data", help="The UGData directory the benchmark declares."),
    out: Path = typer.Option(..., "--out", help="Results folder (one sub-folder per baseline model)."),
    leaderboard: Path = typer.Option(..., "--leaderboard", "-l", help="Leaderboard to submit the baselines to."),
    models: str = typer.Option("", "--models", help="Comma-separated models (default: the standard baselines)."),
    replace: bool = typer.Option(False, "--replace", help="Replace existing baseline entries."),
    device: str | None = typer.Option(None, "--device", help="Device for neural baselines (default: cpu)."),
) -> None:
    """Compute and submit the baseline entries with the project's own commands.

    Runs `ugbench evaluate` for each baseline model (default: random, bm25, minilm, tiny-qwen2-vl; add a tiny UGE
    checkpoint folder to --models) on the benchmark's declared tasks of --data, then submits each results
    folder. Every entry records the data fingerprint and path it ran on.
    """
    from ugbench.leaderboard.baselines import DEFAULT_BASELINES, run_baselines

    names = [m.strip() for m in models.split(",") if m.strip()] or list(DEFAULT_BASELINES)
    run_baselines(data=data, out=out, leaderboard=leaderboard, models=names, replace=replace, device=device,
                  log=lambda msg: console.print(msg, highlight=False, markup=False))


def register(app: typer.Typer) -> None:
    app.command("submit")(submit_cmd)
    app.add_typer(leaderboard_app, name="leaderboard")
