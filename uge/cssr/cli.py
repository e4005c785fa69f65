"""`uge cssr ...`: train CSSR on the StreetSem track (the benchmark side is `ugbench streetsem`).

The source options (--lmdb / --ugdata / --raw, encoders, --limit, --split-mode) are the ones `ugbench streetsem`
uses, from ugdata.streetsem.options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ugcore.errors import UserError
from ugdata.streetsem.options import Source, console, progress, scores_table, with_source

app = typer.Typer(
    name="cssr",
    help="CSSR (StreetSem): text query -> street view retrieval model.\n\n"
    "Typical use: `uge cssr train --ugdata DATA --out ckpt/` then `ugbench evaluate --model ckpt/ --data DATA "
    "--tasks streetsem_text2view` or `ugbench streetsem evaluate --ugdata DATA --model ckpt/`.",
    no_args_is_help=True,
)


@app.command("train")
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
    """Train CSSR on StreetSem vectors (--lmdb) or on images+texts (--ugdata / --raw), then score the test split.

    The test score here is training-side (R@1/5/10, MRR, FoV accuracy); the benchmark's full scores come from
    `ugbench streetsem evaluate --model OUT` or `ugbench evaluate --model OUT --tasks streetsem_text2view`.
    """
    from .model import CSSRConfig
    from .train import TrainConfig, evaluate_encoder, train_cssr

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
    with progress() as prog:
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
        console.print(scores_table(f"CSSR on the test split ({len(test)} views)", {"cssr": scores}))
    res.encoder.save(out, overwrite=overwrite)
    console.print(f"saved {out} (best epoch {res.best['epoch']}, val R@10 {res.best['recall_at_10']:.4f}, "
                  f"median step {1000 * res.encoder.training['step_time_s_median']:.1f} ms)")
