"""The CLI options that name a StreetSem source (--lmdb, --ugdata, --raw with --images, encoders, --limit,
--split-mode), written once for `ugbench streetsem convert/evaluate` and `uge cssr train`."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ugcore.errors import UserError

console = Console(stderr=True)

SOURCE_HELP = "Give exactly one source: --lmdb DIR, --ugdata DIR, or --raw TABLE with --images DIR."


def progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def _load_source(lmdb, ugdata_dir, raw, images, image_encoder, text_encoder, allow_pickle, limit):
    from ugdata.streetsem.features import parse_encoder_name

    given = [x for x in (lmdb, ugdata_dir, raw) if x is not None]
    if len(given) != 1:
        raise UserError(SOURCE_HELP)
    if lmdb is not None:
        from ugdata.streetsem.lmdb_store import load_dir

        specs = {"image": None, "text": None}
        if (Path(lmdb) / "encoders.json").is_file():  # written by `convert`: the checkpoint can then embed raw inputs
            specs = json.loads((Path(lmdb) / "encoders.json").read_text())
        return load_dir(lmdb, allow_pickle=allow_pickle, limit=limit), specs
    specs = {"image": parse_encoder_name(image_encoder, image=True), "text": parse_encoder_name(text_encoder, image=False)}
    with progress() as prog:
        task = prog.add_task("encoding images", total=None)

        def step(done, total):
            prog.update(task, completed=done, total=total)

        if ugdata_dir is not None:
            from ugdata.streetsem.sources import load_ugdata

            data = load_ugdata(ugdata_dir, image_spec=specs["image"], text_spec=specs["text"], progress=step, limit=limit)
        else:
            if images is None:
                raise UserError("--raw TABLE needs --images DIR (the folder holding the street-view files)")
            from ugdata.streetsem.sources import load_raw

            data = load_raw(raw, images, image_spec=specs["image"], text_spec=specs["text"], progress=step)
            if limit is not None:
                data = data.subset(list(range(min(limit, len(data)))))
    return data, specs


def _ensure_splits(data, split_mode: str, seed: int):
    from ugdata.streetsem.splits import assign_splits

    if split_mode == "auto":
        if data.split is not None:
            return data
        split_mode = "random"
    if split_mode == "ugdata":
        if data.split is None:
            raise UserError("--split ugdata needs a source with its own splits (a UGData dir or a converted one)")
        return data
    return assign_splits(data, seed=seed, mode=split_mode)


SCORE_COLUMNS = ("recall_at_1", "recall_at_5", "recall_at_10", "recall_at_20", "recall_at_50", "mrr",
                 "top1_within_1km", "top1_within_5km", "fov_accuracy")


def scores_table(title: str, rows: dict[str, dict]) -> Table:
    """StreetSem score dicts as a table: one row per model, the SCORE_COLUMNS that any row has."""
    cols = [c for c in SCORE_COLUMNS if any(c in s for s in rows.values())]
    t = Table(title=title)
    t.add_column("model")
    for c in cols:
        t.add_column(c.replace("recall_at_", "R@").replace("top1_within_", "top1<"), justify="right")
    for name, s in rows.items():
        t.add_row(name, *[f"{s[c]:.4f}" if isinstance(s.get(c), float) else "-" for c in cols])
    return t


LmdbOpt = Annotated[Optional[Path], typer.Option("--lmdb", help="StreetSem folder: vectors.lmdb (or *.lmdb / data.mdb) + metadata.csv [+ texts.parquet].")]
UgdataOpt = Annotated[Optional[Path], typer.Option("--ugdata", help="A UGData directory (`ugdata build`): views with queries, captions and FoVs.")]
RawOpt = Annotated[Optional[Path], typer.Option("--raw", help="Raw text table: image, fov, lat, lng, summary and the five query columns.")]
ImagesOpt = Annotated[Optional[Path], typer.Option("--images", help="Folder with the raw street-view image files (with --raw).")]
ImgEncOpt = Annotated[str, typer.Option("--image-encoder", help="'pixel-stats' (deterministic, documented) or any ugbench model name.")]
TxtEncOpt = Annotated[str, typer.Option("--text-encoder", help="'minilm' (bundled all-MiniLM-L6-v2) or any ugbench model name.")]
PickleOpt = Annotated[bool, typer.Option("--allow-pickle", help="Accept pickled LMDB values (runs code from the file: trusted files only).")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", help="Use only the first N views (sorted by key): quick trials.")]
SplitOpt = Annotated[str, typer.Option("--split-mode", help="auto (the data's own splits, else random), random (80/10/10 over (image, fov) pairs, the paper's), spatial (geohash blocks), ugdata.")]


@dataclass(frozen=True)
class Source:
    """Where a StreetSem command's data comes from (one of --lmdb, --ugdata, --raw) and how it is encoded.

    convert, train and evaluate all read a source the same way; `with_source` gives each of them these
    options, so the option list, its help and its defaults are written once.
    """

    lmdb: Optional[Path] = None
    ugdata_dir: Optional[Path] = None
    raw: Optional[Path] = None
    images: Optional[Path] = None
    image_encoder: str = "pixel-stats"
    text_encoder: str = "minilm"
    allow_pickle: bool = False
    limit: Optional[int] = None
    split_mode: str = "auto"  # only commands that split the data offer --split-mode

    def load(self):
        """(StreetSemData, encoder specs); the data keeps whatever splits its source has."""
        return _load_source(self.lmdb, self.ugdata_dir, self.raw, self.images, self.image_encoder,
                            self.text_encoder, self.allow_pickle, self.limit)

    def load_split(self, seed: int):
        """Like `load`, with train/val/test splits (--split-mode, `seed`)."""
        data, specs = self.load()
        return _ensure_splits(data, self.split_mode, seed), specs


# The CLI options that fill a Source (parameter name = Source field), in --help order.
SOURCE_OPTIONS: dict[str, Any] = {
    "lmdb": LmdbOpt, "ugdata_dir": UgdataOpt, "raw": RawOpt, "images": ImagesOpt, "image_encoder": ImgEncOpt,
    "text_encoder": TxtEncOpt, "allow_pickle": PickleOpt, "limit": LimitOpt,
}


def with_source(*, splits: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator for a command `fn(..., source: Source, ...)`: its CLI gets the SOURCE_OPTIONS (and
    --split-mode when `splits`) after its required options, and `fn` gets them as one `source`."""
    options = {**SOURCE_OPTIONS, **({"split_mode": SplitOpt} if splits else {})}
    defaults = {f.name: f.default for f in fields(Source)}

    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "source"]
        n_required = next((i for i, p in enumerate(own) if p.default is not p.empty), len(own))
        added = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[name],
                                   annotation=annotation) for name, annotation in options.items()]
        params = own[:n_required] + added + own[n_required:]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            return fn(source=Source(**{name: kwargs.pop(name) for name in options}), **kwargs)

        # typer reads the command's options from its signature and type hints
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return command

    return deco
