"""`ugbench streetsem ...`: the StreetSem track (convert data, evaluate CSSR checkpoints and baselines).

Training CSSR is `uge cssr train` (uge/cssr/); a checkpoint loads here through its `ugbench_model.json` loader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ugcore.errors import UserError
from ugdata.streetsem.options import Source, console, scores_table, with_source


def register(app: typer.Typer) -> None:
    ss = typer.Typer(
        name="streetsem",
        help="StreetSem track: text query -> street view retrieval; score CSSR checkpoints and baselines.\n\n"
        "Typical use: `uge cssr train --ugdata DATA --out ckpt/` (training lives in uge) then "
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
        from ugdata.streetsem.lmdb_store import write_lmdb

        if out.exists() and not overwrite:  # before the (slow) encoding
            raise UserError(f"{out} already exists; pass --overwrite to replace it")
        data, specs = source.load()
        write_lmdb(data, out, encoding=encoding, overwrite=overwrite)
        (out / "encoders.json").write_text(json.dumps(specs, indent=2, sort_keys=True))
        # where the vectors came from (a UGData fingerprint keeps the zero-shot flag right after conversion)
        (out / "source.json").write_text(json.dumps(data.source, indent=2, sort_keys=True, default=str))
        console.print(f"wrote {len(data)} views ({data.image_dim}-d image, {data.text_dim}-d text vectors) to {out}")

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
        from ugbench.streetsem.evaluation import (
            evaluate_encoder,
            expand_queries,
            load_vector_model,
            score_retrieval,
        )
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
                enc = load_vector_model(m)
                if (enc.cfg.image_dim, enc.cfg.text_dim) != (data.image_dim, data.text_dim):
                    raise UserError(f"{m} expects {enc.cfg.image_dim}/{enc.cfg.text_dim}-d image/text vectors; "
                                    f"the data has {data.image_dim}/{data.text_dim} (encode it with the same encoders)")
                results[m] = evaluate_encoder(enc, rows)
        console.print(scores_table(f"StreetSem {split} split ({len(rows)} views, {5 * len(rows)} queries)", results))
        if output is not None:
            write_json_atomic(output, {"split": split, "n_views": len(rows), "source": data.source, "scores": results})
