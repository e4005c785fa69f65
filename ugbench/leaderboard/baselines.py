"""Baseline entries computed honestly: the project's own `ugbench evaluate`, then `ugbench submit`.

`ugbench leaderboard baselines --data DIR --out RESULTS --leaderboard FILE` runs each baseline model on
the benchmark's declared tasks of the declared data and submits its results folder like any submission
(same checks, aggregates recomputed). Each entry records the data it ran on (fingerprint and path, from
the results' provenance). Nothing here writes a number by hand.

Default baselines: chance (`random`), keywords (`bm25`), a real text encoder (`minilm`, all-MiniLM-L6-v2
bundled offline) and an untrained tiny VLM backbone (`tiny-qwen2-vl`, random weights from
ugcore/backbones/configs). A tiny UGE checkpoint is added with `--models ...,PATH/TO/CHECKPOINT`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ugcore.errors import UserError

from .benchmark import default_declaration_path, load_benchmark
from .models import Entry
from .submit import submit

DEFAULT_BASELINES = ("random", "bm25", "minilm", "tiny-qwen2-vl")


def run_baselines(
    *,
    data: str | Path,
    out: str | Path,
    leaderboard: str | Path,
    models: list[Any] | tuple[Any, ...] = DEFAULT_BASELINES,
    benchmark: str | Path | None = None,
    replace: bool = False,
    device: str | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = "default",
    log: Callable[[str], None] = print,
    show_progress: bool = True,
) -> list[Entry]:
    """Evaluate each model on the declared tasks of `data`, submit each, and return the new entries.

    A model is a registry name or path (as `ugbench evaluate --model` takes) or a model object. Every model
    is attempted; models that fail are listed in one UserError at the end (the others land).
    """
    import ugdata
    from ugbench.cache import slugify
    from ugbench.evaluation import evaluate

    spec = load_benchmark(benchmark or default_declaration_path(leaderboard))
    ud = ugdata.load(data)  # NotUGDataError is a UserError
    pinned = {d.fingerprint for d in spec.datasets.values()}
    if ud.fingerprint not in pinned:
        raise UserError(f"{data} has fingerprint {ud.fingerprint}, but {spec.name} {spec.version} declares "
                        f"{sorted(str(p) for p in pinned)}; run the baselines on the declared data "
                        "(or re-declare the benchmark with `ugbench leaderboard declare`)")
    tasks = [t.name for t in spec.tasks]
    entries: list[Entry] = []
    failures: list[str] = []
    for model in models:
        label = model if isinstance(model, str) else getattr(getattr(model, "meta", None), "name", repr(model))
        log(f"baseline {label}: evaluating {len(tasks)} tasks on {data}")
        try:
            # only the declared splits: the board ranks nothing else, and scoring train/val too doubles the cost
            results = evaluate(model, data, tasks=tasks, output=out, seed=seed, device=device, cache_dir=cache_dir,
                               show_progress=show_progress, splits=sorted({t.split for t in spec.tasks}))
            names = {r["model"]["name"] for r in results}
            if len(names) != 1:
                raise UserError(f"evaluate returned results of {sorted(names)}")
            entries += submit(Path(out) / slugify(names.pop()), leaderboard, benchmark=benchmark, replace=replace)
            log(f"baseline {label}: submitted")
        except UserError as e:
            failures.append(f"{label}: {e}")
            log(f"baseline {label}: FAILED: {e}")
    if failures:
        raise UserError(f"{len(failures)} of {len(models)} baselines failed ({len(entries)} submitted):\n"
                        + "\n".join(f"  - {f}" for f in failures))
    return entries
