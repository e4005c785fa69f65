"""`ugbench evaluate`: score a model on UGBench tasks and write one results JSON per task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ugcore.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Registry name or alias (see `ugbench list-models`), "
                                  "a local model folder (sentence-transformers, CLIP/SigLIP, a checkpoint with "
                                  "ugbench_model.json), a hub id in the local HF cache, or `module:attr`."),
        data: Path = typer.Option(..., "--data", "-d", help="A UGData directory (from `ugdata build`)."),
        tasks: str = typer.Option("all", "--tasks", "-t", help="Comma-separated task names or aliases, or "
                                  "'all' (every task whose data the directory holds)."),
        output: Path = typer.Option(Path("results"), "--output", "-o", help="Results go to "
                                    "OUTPUT/<model-slug>/<task>.json plus summary.json / summary.md."),
        batch_size: int = typer.Option(32, "--batch-size", "-b", help="Items per model.encode call."),
        splits: Optional[str] = typer.Option(None, "--splits", help="Comma-separated splits to score "
                                             "(default: each task's own, usually val,test)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals (ci95) and the perception probes (recorded in results; ranking ties are scored as expected values, no seed)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Recompute existing results and re-encode "
                                       "cached embeddings."),
        cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Embedding cache folder (default "
                                                 "$UGBENCH_CACHE, else embeddings/ under $UG_CACHE or $XDG_CACHE_HOME/urban-graph-embeddings or ~/.cache/urban-graph-embeddings)."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embedding cache."),
        device: Optional[str] = typer.Option(None, "--device", help="Torch device for the model (cpu, cuda, "
                                             "cuda:1); default: the adapter's choice."),
        model_option: list[str] = typer.Option([], "--model-option", help="KEY=VALUE passed to the model loader "
                                               "(VALUE parsed as JSON when it can be), e.g. dim=128. Repeatable."),
        chunk_size: int = typer.Option(1024, "--chunk-size", help="Items per cache chunk: the unit of resuming "
                                       "and of sharding across processes."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
        save_predictions: bool = typer.Option(False, "--save-predictions", help="Also write per-query outputs to "
                                              "OUTPUT/<model-slug>/predictions/<task>/: each ranking task's run and "
                                              "qrels per split (TREC format, for ranx / trec_eval), each probe's "
                                              "out-of-fold predictions as CSV."),
    ) -> None:
        """Evaluate one model on UGBench tasks.

        Example: ugbench evaluate --model minilm --data ugdata_out --tasks all --output results

        Embeddings are cached (keyed by model, revision, data fingerprint, task, side and instruction), so a
        rerun or an interrupted run resumes without re-encoding. Existing results files are kept unless
        --overwrite. Launch with `accelerate launch -m ugbench evaluate ...` to shard encoding across processes.
        """
        from ugbench.evaluation import default_cache_dir, evaluate

        options = {}
        for kv in model_option:
            if "=" not in kv:
                raise UserError(f"--model-option expects KEY=VALUE (got '{kv}')")
            k, v = kv.split("=", 1)
            try:
                options[k] = json.loads(v)
            except json.JSONDecodeError:
                options[k] = v
        evaluate(
            model, data, tasks=tasks, output=output, batch_size=batch_size,
            splits=[s for s in splits.split(",") if s] if splits else None, seed=seed, overwrite=overwrite,
            cache_dir=None if no_cache else (cache_dir or default_cache_dir()), device=device,
            model_options=options, show_progress=not quiet, chunk_size=chunk_size, save_predictions=save_predictions,
        )
