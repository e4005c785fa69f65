"""`ugbench.evaluate(...)`: score one model on UGBench tasks and write one results JSON per task.

Flow per task: runner (ugbench.runners.runner_for(task): FAMILY_RUNNERS[family] or the task's own) -> scores per split -> TaskResult (validated
by ugbench.results_schema) -> OUTPUT/<model-slug>/<task>.json written atomically by the main process. A task
whose results file exists is skipped unless `overwrite=True` (nothing already written is lost); a failing
task raises before anything of it is written. Each score carries a 95% bootstrap interval (scores[split]["ci95"],
ugbench.stats); the per-query values behind them go to OUTPUT/<model-slug>/<task>.perquery.parquet (for
`ugbench compare`; `ugbench submit` lists it among ignored files). The summary (summary.json, summary.md) covers every results
file in the model's folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ugcore.atomic import remove_stale_temps, write_json_atomic, write_text_atomic
from ugcore.errors import UserError
from ugcore.provenance import git_commit, hardware, package_version, utc_now, versions

from .cache import DEFAULT_CHUNK, EmbeddingCache, slugify
from .encoding import Encoder
from .results_schema import ModelInfo, Provenance, TaskInfo, TaskResult
from .runners import RunContext, runner_for
from .tasks.registry import TaskMeta, get_task, tasks_for_data


def default_cache_dir() -> Path:
    """$UGBENCH_CACHE, else `embeddings/` under the project's one cache root (UG_CACHE, XDG_CACHE_HOME, ~/.cache)."""
    from ugcore.shared import cache_root

    explicit = os.environ.get("UGBENCH_CACHE")
    return Path(explicit) if explicit else cache_root() / "embeddings"


def _open_data(data_dir: str | Path):
    from ugdata.format import load

    p = Path(data_dir)
    if not p.exists():
        raise UserError(f"data directory {p} does not exist; build one with `ugdata build --out {p}`")
    ud = load(p)  # NotUGDataError (a UserError) when it is not UGData
    ud.verify()  # score only the content the fingerprint names (an edited task file is refused)
    return ud


def resolve_tasks(tasks: str | list[str], ud) -> list[TaskMeta]:
    have = ud.task_names()
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if not tasks:
        raise UserError("--tasks is empty; give comma-separated task names (see `ugbench list-tasks`) or 'all'")
    if tasks == ["all"]:
        metas = tasks_for_data(have)
        if not metas:
            raise UserError(f"{ud.root} holds no task ugbench knows (its tasks: {have or 'none'}); "
                            "see `ugbench list-tasks`")
        return metas
    metas = [get_task(t) for t in tasks]
    for m in metas:
        omitted = (ud.manifest.get("omitted_tasks") or {}).get(m.data_task)
        if m.data_task not in have and omitted:
            raise UserError(f"task '{m.name}' was not built on {ud.root}: {omitted}")
        if m.data_task not in have:
            raise UserError(f"task '{m.name}' needs {ud.root}/tasks/{m.data_task}/, which is missing "
                            f"(this directory has: {', '.join(have) or 'no tasks'})")
    seen: dict[str, TaskMeta] = {}
    for m in metas:
        seen.setdefault(m.name, m)
    return list(seen.values())


def _load(model, device, model_options):
    if isinstance(model, str):
        from .models.registry import load_model

        model = load_model(model, device=device, **(model_options or {}))
    meta = getattr(model, "meta", None)
    if meta is None or not callable(getattr(model, "encode", None)):
        raise UserError(f"{type(model).__name__} is not a ugbench model: it needs `.meta` (ModelMeta) and "
                        "`.encode(items, *, task_name, side, instruction, batch_size)`")
    return model


def _skippable(meta: TaskMeta, ud) -> str | None:
    """Why an `all` run should skip a task on this data (None = run it): a query-mode variant whose mode
    the data has no queries of (built before query modes), a with-graph variant without graph context."""
    tdir = ud.root / "tasks" / meta.data_task
    import pandas as pd
    import pyarrow.parquet as pq

    if meta.query_mode is not None and not meta.owns_unmarked_queries:
        qp = tdir / "queries.parquet"
        if not (qp.is_file() and "query_mode" in pq.read_schema(qp).names
                and len(meta.select_queries(pd.read_parquet(qp, columns=["query_mode"])))):
            return f"no {meta.query_mode} queries in the data"
    if not meta.with_graph:
        return None
    for p in (tdir / f"{table}.parquet" for table in runner_for(meta).item_tables):
        if p.is_file() and "graph_context" in pq.read_schema(p).names:
            g = pd.read_parquet(p, columns=["graph_context"])["graph_context"]
            if any(len(x) for x in g if x is not None):
                return None
    return "no graph_context in the data"


def evaluate(
    model: Any,
    data_dir: str | Path,
    tasks: str | list[str] = "all",
    output: str | Path | None = "results",
    *,
    batch_size: int = 32,
    splits: list[str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    cache_dir: str | Path | None = "default",
    device: str | None = None,
    model_options: dict[str, Any] | None = None,
    show_progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    console=None,
    save_predictions: bool = False,
) -> list[dict]:
    """Evaluate `model` (a registry name, a path, or a model object) on `tasks` of the UGData at `data_dir`.

    Returns the results (dicts in the TaskResult schema) of the tasks run or found already written.
    save_predictions: also write OUTPUT/<model-slug>/predictions/<task>/ (see `write_predictions`).
    """
    from rich.console import Console

    state = _partial_state()
    is_main = state is None or state.is_main_process
    console = console or Console(stderr=True, quiet=not is_main)
    if batch_size < 1 or chunk_size < 1:
        raise UserError(f"--batch-size and --chunk-size must be >= 1 (got {batch_size}, {chunk_size})")
    if output is not None:
        check_output_dir(Path(output), "--output")
    ud = _open_data(data_dir)
    metas = resolve_tasks(tasks, ud)
    explicit = not (isinstance(tasks, str) and tasks.strip() in ("", "all")) and tasks != ["all"]
    if device is None and isinstance(model, str):
        # one GPU per process under accelerate; else the GPU when there is one; adapters default to CPU
        if state is not None and state.device.type != "cpu":
            device = str(state.device)
        elif _cuda():
            device = "cuda"
    t_load = time.perf_counter()
    model_obj = _load(model, device, model_options)
    t_load = time.perf_counter() - t_load
    mmeta = model_obj.meta
    slug = slugify(mmeta.name)
    out_dir = Path(output) / slug if output is not None else None
    if out_dir is not None:
        check_output_dir(out_dir, "--output")
        if is_main:  # the temporary results file of a run killed mid-write (a leaderboard would list it)
            remove_stale_temps(out_dir)
    if cache_dir == "default":
        cache_dir = default_cache_dir()
    cache = EmbeddingCache(cache_dir, overwrite=overwrite, chunk_size=chunk_size) if cache_dir is not None else None
    encoder = Encoder(model_obj, ud, cache=cache, batch_size=batch_size, show_progress=show_progress, state=state,
                      chunk_size=chunk_size, source=model if isinstance(model, str) else None)
    config = {
        "model": model if isinstance(model, str) else type(model_obj).__name__,
        "model_options": model_options or {}, "data_dir": str(Path(data_dir).resolve()),
        "tasks": [m.name for m in metas], "splits": splits, "batch_size": batch_size, "seed": seed,
        "device": device, "cache_dir": str(cache_dir) if cache_dir is not None else None,
        "overwrite": overwrite, "chunk_size": chunk_size, "num_processes": state.num_processes if state is not None else 1,
    }
    results: list[dict] = []
    failed: dict[str, str] = {}
    for meta in metas:
        target = out_dir / f"{meta.name}.json" if out_dir is not None else None
        if target is not None and target.is_file() and not overwrite:
            doc, why = existing_result(target, meta, ud)
            if doc is not None:
                console.print(f"[dim]{meta.name}: {target} exists, skipped (pass --overwrite to recompute)[/]")
                results.append(doc)
                continue
            console.print(f"[yellow]warning: {meta.name}: {target} {why}; recomputing it[/]", highlight=False)
        if not explicit:
            why = _skippable(meta, ud)
            if why:
                console.print(f"[dim]{meta.name}: skipped ({why})[/]")
                continue
        try:
            results.append(_run_one(meta, ud, encoder, model_obj, seed, splits, config, t_load, target, is_main,
                                    console, save_predictions))
        except UserError as e:  # this task's data or the model's output for it: report, go on with the rest
            if len(metas) == 1:
                raise
            failed[meta.name] = str(e)
            console.print(f"[red]{meta.name}: failed: {e}[/]", highlight=False)
    if out_dir is not None and is_main:
        write_summary(out_dir, console)
    if failed:
        raise UserError(f"{len(failed)} of {len(metas)} tasks failed and wrote no results: "
                        + "; ".join(f"{k}: {v}" for k, v in failed.items())
                        + (f" (the others are in {out_dir})" if out_dir is not None else ""))
    return results


def check_output_dir(path: Path, flag: str) -> None:
    """Refuse an output folder that cannot be written, before any model is loaded or anything encoded: a
    file in its place (or above it), or a folder without write permission."""
    p = Path(path)
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            return
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file" if probe == p else f"lies under {probe}, which is a file"
        raise UserError(f"{flag} {p} {what}, not a folder; give a folder for the results")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {p}: {probe} is not writable; give a folder you can write to")


def existing_result(target: Path, meta: TaskMeta, ud) -> tuple[dict | None, str]:
    """An existing results file that may be kept: (its document, "") or (None, why it must be recomputed):
    unreadable or truncated, not a results document, of another task version, or computed on other data
    (its dataset fingerprint differs from this data's)."""
    import json

    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
        TaskResult.model_validate(doc)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"is unreadable or truncated ({type(e).__name__})"
    except Exception as e:  # noqa: BLE001 - pydantic's ValidationError: not a results document
        return None, f"is not a valid results file ({str(e).splitlines()[0]})"
    fp = (doc.get("provenance") or {}).get("dataset_fingerprint")
    if fp != ud.fingerprint:
        return None, (f"was computed on other data (dataset fingerprint {str(fp)[:16]}, this data "
                      f"{str(ud.fingerprint)[:16]})")
    if (doc.get("task") or {}).get("version") != meta.version:
        return None, f"is of task version {(doc.get('task') or {}).get('version')}, not {meta.version}"
    return doc, ""


def _partial_state():
    """accelerate's PartialState when launched with several processes (else None: plain single process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    return PartialState(cpu=os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
                        or not _cuda())


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _run_one(meta, ud, encoder, model_obj, seed, splits, config, t_load, target, is_main, console,
             save_predictions=False) -> dict:
    ctx = RunContext(ud=ud, encoder=encoder, seed=seed, splits=splits, save_predictions=save_predictions)
    ctx.timings["model_load"] = t_load
    enc_before = encoder.encode_seconds
    encoder.chunks_by_rank = {}
    t0 = time.perf_counter()
    scores = runner_for(meta)(meta, ctx)
    ctx.timings["total"] = time.perf_counter() - t0
    ctx.timings["model_forward"] = encoder.encode_seconds - enc_before
    mmeta = model_obj.meta
    spec = ud.task_spec(meta.data_task)
    result = TaskResult(
        task=TaskInfo(name=meta.name, version=meta.version, main_score=meta.main_score, family=meta.family,
                      modalities=meta.modalities(spec), description=meta.description, data_task=meta.data_task,
                      data_task_version=spec.version, protocol=meta.protocol, with_graph=meta.with_graph,
                      citation=meta.citation),
        model=ModelInfo(name=mmeta.name, revision=str(mmeta.revision), metadata=_jsonable(mmeta.to_dict())),
        scores=scores,
        instructions=dict(ctx.instructions),
        config={**config, "splits_scored": sorted(scores), "skipped_splits": dict(ctx.skipped_splits),
                "chunks_encoded_by_process": {str(k): v for k, v in sorted(encoder.chunks_by_rank.items())}},
        provenance=Provenance(
            package_version=package_version(), git_commit=git_commit(), dataset_fingerprint=ud.fingerprint,
            dataset_path=str(ud.root), task_version=meta.version, seed=seed, created_at=utc_now(),
            hardware=hardware(), versions=versions(), timings_s={k: round(v, 6) for k, v in ctx.timings.items()},
            zero_shot=mmeta.is_zero_shot(ud.fingerprint, ud.manifest.get("name")),
            data_verified=True,  # _open_data verified the content against the fingerprint
        ),
    )
    doc = result.model_dump(mode="json")
    if target is not None and is_main:
        if ctx.per_query:  # before the results file: a results file never names a missing or stale sidecar
            write_per_query(per_query_path(target), ctx.per_query, meta.name)
        else:
            per_query_path(target).unlink(missing_ok=True)
        write_json_atomic(target, doc)
        if save_predictions and ctx.predictions:
            write_predictions(target.parent / "predictions" / meta.name, ctx.predictions, meta.name, set(scores))
    for split, why in ctx.skipped_splits.items():
        console.print(f"[yellow]{meta.name}: split '{split}' not scored ({why})[/]")
    main = {s: v["main_score"] for s, v in scores.items()}
    console.print(f"[green]{meta.name}[/]: {meta.main_score} " + ", ".join(f"{s}={v:.4f}" for s, v in main.items()))
    return doc


PER_QUERY_SUFFIX = ".perquery.parquet"


def per_query_path(results_file: Path) -> Path:
    """The per-query sidecar of OUTPUT/<model>/<task>.json: OUTPUT/<model>/<task>.perquery.parquet."""
    return results_file.with_name(results_file.stem + PER_QUERY_SUFFIX)


def write_per_query(path: Path, frames: list, task: str) -> None:
    """One row per (split, query_id) with each metric's per-query value (NaN where a frame lacks it):
    the values the results' means and intervals are computed from, for `ugbench compare`."""
    import io

    import pandas as pd

    from ugcore.atomic import write_bytes_atomic

    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "task", task)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    write_bytes_atomic(path, buf.getvalue())


def write_predictions(folder: Path, pred: dict, task: str, splits: set[str]) -> None:
    """Per-query outputs of one task, per scored split:

    ranking: <split>.run (TREC run: `qid Q0 docid rank score tag`, each query's candidates, or its top
             GLOBAL_DEPTH documents in the global protocol, by score descending, ties by doc id as trec_eval
             orders them) and <split>.qrels (`qid 0 docid 1`, binary relevance); ranx or trec_eval recompute
             the metrics from these exactly when the model produces no tied scores; with ties ugbench reports
             the expected value over the tied orderings (ugcore/ranking.py), which one sorted run cannot show.
    probe:   <split>.csv: image_id, target, fold, y_true, y_pred (the out-of-fold prediction that is scored).
    """
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    if pred.get("kind") == "ranking":
        runs: dict[str, list[str]] = {s: [] for s in splits}
        for _i, (split, qid, docs, sc) in sorted(pred["run"].items()):
            if split not in runs:
                continue
            order = sorted(range(len(docs)), key=lambda j: (-float(sc[j]), str(docs[j])))
            runs[split] += [f"{qid} Q0 {docs[j]} {r} {float(sc[j])!r} ugbench" for r, j in enumerate(order, 1)]
        qrels: dict[str, list[str]] = {s: [] for s in splits}
        for split, qid, doc in pred["qrels"]:
            if split in qrels:
                qrels[split].append(f"{qid} 0 {doc} 1")
        for split in splits:
            write_text_atomic(folder / f"{split}.run", "\n".join(runs[split]) + "\n")
            write_text_atomic(folder / f"{split}.qrels", "\n".join(qrels[split]) + "\n")
    elif pred.get("kind") == "probe":
        df = pd.concat(pred["rows"], ignore_index=True)
        for split in splits:
            write_text_atomic(folder / f"{split}.csv", df[df["split"] == split].drop(columns="split").to_csv(index=False))


def _jsonable(obj):
    import json

    return json.loads(json.dumps(obj, default=str))


def write_summary(out_dir: Path, console=None) -> dict:
    """summary.json and summary.md over every <task>.json in `out_dir`; prints a rich table."""
    import json

    from rich.table import Table

    rows = []
    for p in sorted(out_dir.glob("*.json")):
        if p.name == "summary.json":
            continue
        try:
            doc = TaskResult.model_validate_json(p.read_text())
        except Exception:
            continue
        for split, sc in doc.scores.items():
            ci = (sc.get("ci95") or {}).get(doc.task.main_score)
            rows.append({"task": doc.task.name, "family": doc.task.family, "split": split,
                         "main_score": doc.task.main_score, "value": sc["main_score"],
                         "ci95": list(ci) if ci is not None else None})
    if not rows:
        return {}
    model = json.loads(next(p for p in sorted(out_dir.glob("*.json")) if p.name != "summary.json").read_text())
    summary = {"model": model["model"]["name"], "results": rows}
    write_json_atomic(out_dir / "summary.json", summary)
    md = [f"# UGBench results: {summary['model']}", "", "| task | family | split | main score | value | 95% CI |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r['task']} | {r['family']} | {r['split']} | {r['main_score']} | {r['value']:.4f} | {_ci(r['ci95'])} |"
           for r in rows]
    write_text_atomic(out_dir / "summary.md", "\n".join(md) + "\n")
    if console is not None:
        table = Table(title=f"UGBench: {summary['model']}")
        for c in ("task", "split", "main score", "value", "95% CI"):
            table.add_column(c, justify="right" if c in ("value", "95% CI") else "left")
        for r in rows:
            table.add_row(r["task"], r["split"], r["main_score"], f"{r['value']:.4f}", _ci(r["ci95"]))
        console.print(table)
    return summary


def _ci(ci) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "-"
