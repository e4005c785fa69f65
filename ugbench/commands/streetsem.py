"""`ugbench streetsem ...`: the StreetSem track (convert data, train CSSR, evaluate CSSR and baselines)."""

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


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def _load_source(lmdb, ugdata_dir, raw, images, image_encoder, text_encoder, allow_pickle, limit):
    from ugbench.streetsem.features import parse_encoder_name

    given = [x for x in (lmdb, ugdata_dir, raw) if x is not None]
    if len(given) != 1:
        raise UserError(SOURCE_HELP)
    if lmdb is not None:
        from ugbench.streetsem.lmdb_store import load_dir

        specs = {"image": None, "text": None}
        if (Path(lmdb) / "encoders.json").is_file():  # written by `convert`: the checkpoint can then embed raw inputs
            specs = json.loads((Path(lmdb) / "encoders.json").read_text())
        return load_dir(lmdb, allow_pickle=allow_pickle, limit=limit), specs
    specs = {"image": parse_encoder_name(image_encoder, image=True), "text": parse_encoder_name(text_encoder, image=False)}
    with _progress() as prog:
        task = prog.add_task("encoding images", total=None)

        def step(done, total):
            prog.update(task, completed=done, total=total)

        if ugdata_dir is not None:
            from ugbench.streetsem.sources import load_ugdata

            data = load_ugdata(ugdata_dir, image_spec=specs["image"], text_spec=specs["text"], progress=step, limit=limit)
        else:
            if images is None:
                raise UserError("--raw TABLE needs --images DIR (the folder holding the street-view files)")
            from ugbench.streetsem.sources import load_raw

            data = load_raw(raw, images, image_spec=specs["image"], text_spec=specs["text"], progress=step)
            if limit is not None:
                data = data.subset(list(range(min(limit, len(data)))))
    return data, specs


def _ensure_splits(data, split_mode: str, seed: int):
    from ugbench.streetsem.splits import assign_splits

    if split_mode == "auto":
        if data.split is not None:
            return data
        split_mode = "random"
    if split_mode == "ugdata":
        if data.split is None:
            raise UserError("--split ugdata needs a source with its own splits (a UGData dir or a converted one)")
        return data
    return assign_splits(data, seed=seed, mode=split_mode)


def _scores_table(title: str, rows: dict[str, dict]) -> Table:
    cols = ["recall_at_10", "recall_at_20", "recall_at_50", "mrr", "top1_within_1km", "top1_within_5km", "fov_accuracy"]
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


def register(app: typer.Typer) -> None:
    ss = typer.Typer(
        name="streetsem",
        help="StreetSem track: text query -> street view retrieval with CSSR and baselines.\n\n"
        "Typical use: `ugbench streetsem train --ugdata DATA --out ckpt/` then "
        "`ugbench evaluate --model ckpt/ --data DATA` or `ugbench streetsem evaluate --ugdata DATA --model ckpt/`.",
        no_args_is_help=True,
    )
    app.add_typer(ss, name="streetsem")

    @ss.command("convert")
    @with_source(splits=False)
    def convert(
        out: Annotated[Path, typer.Option("--out", help="Output StreetSem folder (vectors.lmdb, metadata.csv, texts.parquet).")],
        source: Source,
        encoding: Annotated[str, typer.Option(help="LMDB value encoding: f32 (raw float32 + header JSON), npz or pickle.")] = "f32",
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
    ) -> None:
        """Encode a UGData dir or raw images+texts into a StreetSem LMDB folder (or re-encode an LMDB).

        The result loads with `--lmdb OUT` everywhere, so images are featurised once.
        """
        from ugbench.streetsem.lmdb_store import write_lmdb

        if out.exists() and not overwrite:  # before the (slow) encoding
            raise UserError(f"{out} already exists; pass --overwrite to replace it")
        data, specs = source.load()
        write_lmdb(data, out, encoding=encoding, overwrite=overwrite)
        (out / "encoders.json").write_text(json.dumps(specs, indent=2, sort_keys=True))
        # where the vectors came from (a UGData fingerprint keeps the zero-shot flag right after conversion)
        (out / "source.json").write_text(json.dumps(data.source, indent=2, sort_keys=True, default=str))
        console.print(f"wrote {len(data)} views ({data.image_dim}-d image, {data.text_dim}-d text vectors) to {out}")

    @ss.command("train")
    @with_source(splits=True)
    def train(
        out: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write (loadable by `ugbench evaluate --model OUT`).")],
        source: Source,
        seed: Annotated[int, typer.Option(help="Seed for splits, initialisation, batches and dropout.")] = 0,
        tiny: Annotated[bool, typer.Option("--tiny", help="Tiny widths (32-d, 1 layer each): tests and demos.")] = False,
        d_model: Annotated[Optional[int], typer.Option(help="Hidden width (paper: 768).")] = None,
        out_dim: Annotated[Optional[int], typer.Option(help="Embedding size of z_sem / z_geo (paper: 768).")] = None,
        layers: Annotated[Optional[int], typer.Option(help="Layers of the geohash and fusion Transformers (paper: 4).")] = None,
        heads: Annotated[Optional[int], typer.Option(help="Attention heads.")] = None,
        epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping on val R@10).")] = 50,
        batch_size: Annotated[int, typer.Option(help="Views per batch (whole panoramas; paper: 512).")] = 512,
        lr: Annotated[float, typer.Option(help="AdamW learning rate (paper: 1e-4).")] = 1e-4,
        warmup_epochs: Annotated[float, typer.Option(help="Linear warmup epochs before the cosine decay (paper: 5).")] = 5.0,
        patience: Annotated[int, typer.Option(help="Epochs without a better val R@10 before stopping.")] = 5,
        device: Annotated[str, typer.Option(help="torch device (cpu, cuda).")] = "cpu",
        threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (1 is fastest on a busy shared machine).")] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
    ) -> None:
        """Train CSSR on StreetSem vectors (--lmdb) or on images+texts (--ugdata / --raw), then score the test split."""
        from ugbench.streetsem.model import CSSRConfig
        from ugbench.streetsem.train import TrainConfig, evaluate_encoder, train_cssr

        if out.exists() and not overwrite:
            raise UserError(f"{out} already exists; pass --overwrite to replace it")
        if threads:
            import torch

            torch.set_num_threads(threads)
        data, specs = source.load_split(seed)
        kw = {k: v for k, v in {"d_model": d_model, "out_dim": out_dim, "geo_layers": layers, "fusion_layers": layers,
                                "n_heads": heads}.items() if v is not None}
        make = CSSRConfig.tiny if tiny else CSSRConfig
        mcfg = make(image_dim=data.image_dim, text_dim=data.text_dim, n_places=0, **kw)
        if mcfg.d_model % mcfg.n_heads:
            raise UserError(f"--d-model {mcfg.d_model} must be divisible by --heads {mcfg.n_heads}")
        tcfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, warmup_epochs=warmup_epochs,
                           patience=patience, seed=seed, device=device)
        prov = {"dataset_fingerprint": data.source.get("fingerprint"), "split_mode": source.split_mode, "seed": seed}
        with _progress() as prog:
            task = prog.add_task("training CSSR", total=None)
            res = train_cssr(
                data, mcfg, tcfg, encoders=specs, name=f"cssr-{out.name}", provenance=prov,
                on_step=lambda s, total: prog.update(task, completed=s, total=total),
                on_epoch=lambda r: console.print(
                    f"epoch {r['epoch']}: loss {r['train_loss']:.4f}  val R@10 {r['val_recall_at_10']:.4f}  "
                    f"val FoV acc {r['val_fov_accuracy']:.3f}"),
            )
        test = data.split_rows("test")
        if len(test):
            scores = evaluate_encoder(res.encoder, test)
            res.encoder.training["test"] = scores
            console.print(_scores_table(f"CSSR on the test split ({len(test)} views)", {"cssr": scores}))
        res.encoder.save(out, overwrite=overwrite)
        console.print(f"saved {out} (best epoch {res.best['epoch']}, val R@10 {res.best['recall_at_10']:.4f}, "
                      f"median step {1000 * res.encoder.training['step_time_s_median']:.1f} ms)")

    @ss.command("evaluate")
    @with_source(splits=True)
    def evaluate(
        model: Annotated[list[str], typer.Option("--model", help="A CSSR checkpoint folder or a baseline: content-text, linear-map, bm25. Repeatable.")],
        source: Source,
        seed: Annotated[int, typer.Option(help="Split seed (use the one the model was trained with).")] = 0,
        split: Annotated[str, typer.Option(help="Split to score: test or val.")] = "test",
        output: Annotated[Optional[Path], typer.Option("--output", help="Write all scores to this JSON file.")] = None,
    ) -> None:
        """Score CSSR checkpoints and baselines on one StreetSem split (Recall@10/20/50, MRR, top-1 within 1/5 km, FoV)."""
        from ugbench.streetsem.baselines import BASELINES, run_baseline
        from ugbench.streetsem.encoder import CSSREncoder
        from ugbench.streetsem.evaluation import expand_queries, score_retrieval
        from ugbench.streetsem.train import evaluate_encoder
        from ugcore.atomic import write_json_atomic

        data, _ = source.load_split(seed)
        train_rows, rows = data.split_rows("train"), data.split_rows(split)
        if not len(rows):
            raise UserError(f"the '{split}' split is empty")
        results = {}
        for m in model:
            if m in BASELINES:
                q, d = run_baseline(m, train_rows, rows)
                _, truth, qtype = expand_queries(rows.query_vec)
                results[m] = score_retrieval(q, truth, qtype, d, rows.lat, rows.lng)
            else:
                enc = CSSREncoder.load(m)
                if (enc.cfg.image_dim, enc.cfg.text_dim) != (data.image_dim, data.text_dim):
                    raise UserError(f"{m} expects {enc.cfg.image_dim}/{enc.cfg.text_dim}-d image/text vectors; "
                                    f"the data has {data.image_dim}/{data.text_dim} (encode it with the same encoders)")
                results[m] = evaluate_encoder(enc, rows)
        console.print(_scores_table(f"StreetSem {split} split ({len(rows)} views, {5 * len(rows)} queries)", results))
        if output is not None:
            write_json_atomic(output, {"split": split, "n_views": len(rows), "source": data.source, "scores": results})
