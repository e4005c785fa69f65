"""`ugbench compare A B`: paired significance test of two models' main scores over the same queries."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_cmd(
        results_a: Path = typer.Argument(..., help="Results folder of model A (OUTPUT/<model-slug> of `ugbench evaluate`)."),
        results_b: Path = typer.Argument(..., help="Results folder of model B, on the same data."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the comparison as JSON here."),
        splits: Optional[str] = typer.Option(None, "--splits", help="Comma-separated splits (default: all both scored)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and permutation draws."),
    ) -> None:
        """Per task and per family: main-score difference A - B, its 95% paired-bootstrap interval and a paired
        permutation p-value over the same queries (needs the <task>.perquery.parquet files evaluate writes).

        Example: ugbench compare results/minilm results/random --output minilm_vs_random.json
        """
        from rich.console import Console

        from ugbench.compare import compare, print_comparison, write_comparison

        out = compare(results_a, results_b, seed=seed,
                      splits=[s for s in splits.split(",") if s] if splits else None)
        print_comparison(out, Console())
        if output is not None:
            write_comparison(out, output)
