"""`ugdata fetch SOURCE ...`: the sub-app every street-view source registers its command on.

Registered once in ugdata/cli.py (`app.add_typer(fetch_app, name="fetch")`). A source adds
`@fetch_app.command("NAME")` here; heavy imports stay inside the command (fast `ugdata --help`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

fetch_app = typer.Typer(
    name="fetch",
    help="Fetch real street views (Mapillary, a local OSV-5M copy) into a folder that "
    "`ugdata build --views OUT/views.csv --images OUT/images` reads. Each image keeps its licence and creator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

# Shared option declarations (same flags and help for every source).
BBOX_OPT = typer.Option(None, "--bbox", help="W,S,E,N area (degrees).")
PLACE_OPT = typer.Option(None, "--place", help="Place name, geocoded with osmnx (needs internet).")
OSM_OPT = typer.Option(None, "--osm", help="OSM extract whose bounds are the area (.osm[.gz|.bz2] <bounds>, "
                       "else the extent of its streets).")
OUT_OPT = typer.Option(..., "--out", help="Output folder (resumable: a rerun skips complete, verified images).")
MAX_OPT = typer.Option(None, "--max", help="At most N views (after thinning; deterministic choice).")
SPACING_OPT = typer.Option(5.0, "--min-spacing-m", help="At most one view per M metres along each sequence "
                           "(0 keeps all).")
AFTER_OPT = typer.Option(None, "--captured-after", help="Only views captured on/after DATE (YYYY-MM-DD or ISO-8601).")
BEFORE_OPT = typer.Option(None, "--captured-before", help="Only views captured before DATE (YYYY-MM-DD or ISO-8601).")
CITY_OPT = typer.Option(None, "--city", help="City name written into the table (default: from --place/--osm).")


def print_summary(meta: dict, out: Path) -> None:
    c = meta.get("counts", {})
    console.print(f"[bold]{out}[/]: {c.get('kept', 0)} views kept of {c.get('found', 0)} found "
                  f"({c.get('thinned', 0)} thinned, {c.get('duplicates', 0)} duplicates, {c.get('rejected', 0)} "
                  f"rejected, {c.get('resumed', 0)} from an earlier run); {meta.get('requests', 0)} requests",
                  highlight=False)
    console.print(f"  next: ugdata build --osm CITY.osm.pbf --views {out / 'views.csv'} --images {out / 'images'} "
                  "--out DATA", highlight=False)


@fetch_app.command("mapillary")
def mapillary(
    out: Path = OUT_OPT,
    bbox: Optional[str] = BBOX_OPT,
    place: Optional[str] = PLACE_OPT,
    osm: Optional[Path] = OSM_OPT,
    max_views: Optional[int] = MAX_OPT,
    min_spacing_m: float = SPACING_OPT,
    captured_after: Optional[str] = AFTER_OPT,
    captured_before: Optional[str] = BEFORE_OPT,
    pano: bool = typer.Option(True, "--pano/--no-pano", help="Cut panoramas into perspective views (--pano-headings) "
                              "or skip them."),
    pano_headings: str = typer.Option("0,90,180,270", "--pano-headings", help="Headings (degrees, relative to the "
                                      "panorama's compass angle) of the perspective cuts."),
    pano_fov: float = typer.Option(90.0, "--pano-fov", help="Horizontal field of view of each cut (degrees)."),
    resolution: int = typer.Option(1024, "--resolution", help="Thumbnail width: 256, 1024 or 2048."),
    token_file: Optional[Path] = typer.Option(None, "--token-file", help="File holding the Mapillary client token "
                                              "(else $MAPILLARY_TOKEN or $UG_MAPILLARY_TOKEN)."),
    max_requests: int = typer.Option(20000, "--max-requests", help="Request budget (metadata, tiles and images)."),
    search: str = typer.Option("auto", "--search", help="How to find images: tiles (coverage vector tiles, z14), "
                               "bbox (the image search endpoint), auto (bbox for small areas, else tiles)."),
    workers: int = typer.Option(4, "--workers", help="Parallel image downloads."),
    city: Optional[str] = CITY_OPT,
    api_url: Optional[str] = typer.Option(None, "--api-url", help="Graph API root (default $UG_MAPILLARY_API or "
                                          "https://graph.mapillary.com)."),
    tiles_url: Optional[str] = typer.Option(None, "--tiles-url", help="Tiles root (default $UG_MAPILLARY_TILES or "
                                            "https://tiles.mapillary.com)."),
) -> None:
    """Fetch Mapillary street views (CC BY-SA 4.0) for an area: Graph API v4 with a free client token.

    Example: ugdata fetch mapillary --bbox 24.936,60.164,24.947,60.170 --out mly_helsinki --max 500
    """
    from ugdata.fetch.area import resolve_area
    from ugdata.fetch.mapillary import MapillaryOptions, fetch_mapillary, read_token

    token = read_token(token_file)
    area = resolve_area(bbox, place, osm, city=city)
    opts = MapillaryOptions(
        max_views=max_views, min_spacing_m=min_spacing_m, captured_after=captured_after,
        captured_before=captured_before, pano=pano, pano_headings=pano_headings, pano_fov=pano_fov,
        resolution=resolution, max_requests=max_requests, search=search, workers=workers,
        api_url=api_url, tiles_url=tiles_url,
    )
    meta = fetch_mapillary(area, out, token, opts, console=console)
    print_summary(meta, out)
    print(str(out))


@fetch_app.command("osv5m")
def osv5m(
    root: Path = typer.Option(..., "--root", help="Your local OSV-5M copy (huggingface osv5m/osv5m: train.csv, "
                              "test.csv, images/{train,test}/NN.zip)."),
    out: Path = OUT_OPT,
    bbox: Optional[str] = BBOX_OPT,
    place: Optional[str] = PLACE_OPT,
    osm: Optional[Path] = OSM_OPT,
    split: str = typer.Option("all", "--split", help="train, test or all."),
    max_views: Optional[int] = MAX_OPT,
    min_spacing_m: float = SPACING_OPT,
    city: Optional[str] = CITY_OPT,
    workers: int = typer.Option(4, "--workers", help="Threads that verify and write images."),
) -> None:
    """Import the OSV-5M street views of an area (CC BY-SA 4.0) from a local copy: streams the metadata CSV and
    reads only the matching images out of the zip shards (no extraction). Offline.

    Example: ugdata fetch osv5m --root ~/datasets/osv5m --bbox 24.936,60.164,24.947,60.170 --out osv_helsinki
    """
    from ugdata.fetch.area import resolve_area
    from ugdata.fetch.osv5m import fetch_osv5m

    area = resolve_area(bbox, place, osm, city=city)
    meta = fetch_osv5m(root, area, out, split=split, max_views=max_views, min_spacing_m=min_spacing_m, city=city,
                       workers=workers, log=lambda s: console.print(f"osv5m: {s}", highlight=False))
    c = meta.get("counts", {})
    if c.get("bad_coordinates"):
        console.print(f"  {c['bad_coordinates']} metadata rows skipped: latitude/longitude missing or invalid",
                      highlight=False)
    print_summary(meta, out)
    print(str(out))
