"""`ugbench compare A B`: is model A's main score different from model B's on the same queries?

A and B are results folders of `ugbench evaluate` (OUTPUT/<model-slug>/, or OUTPUT/ holding one model folder).
For each task both hold, and each split both scored, the per-query values of the task's main score
(<task>.perquery.parquet beside <task>.json) are matched by query id and compared with
ugbench.stats.paired_test: mean difference A - B, its 95% paired-bootstrap interval and a two-sided paired
permutation p-value, seeded. A family's difference is the mean of its tasks' differences (as its score is the
mean of its tasks' scores), tested with queries resampled / sign-flipped within each task.

Refused (one-line error): two results of one task computed on different data (dataset fingerprints differ).
Skipped, with the reason in the output: a task whose main score is not a mean over queries (a probe's
Spearman or R^2: its interval is in the results, but there is no per-query value to pair), or whose
results have no per-query file (results written before ugbench 1.1 results: re-run with --overwrite).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ugcore.errors import UserError

from .evaluation import per_query_path
from .results_schema import read_model_results
from .stats import paired_strata_test, paired_test


def _model_dir(path: Path) -> Path:
    from .leaderboard.validate import discover_model_dirs

    if not path.is_dir():
        raise UserError(f"{path} is not a folder of results (give OUTPUT/<model-slug> of `ugbench evaluate`)")
    dirs = discover_model_dirs(path)
    if len(dirs) != 1:
        raise UserError(f"{path} holds results of {len(dirs)} models; give one model's folder "
                        f"({', '.join(d.name for d in dirs[:5]) or 'none found'})")
    return dirs[0]


def split_scores(per_query, main: str, split: str):
    """One split's per-query values of a task's main score (a per-query table of `ugbench evaluate`), indexed
    by query id: what a paired test matches A's and B's queries on."""
    return per_query[per_query["split"] == split].dropna(subset=[main]).set_index("query_id")[main]


def compare(a: Path, b: Path, *, seed: int = 0, splits: list[str] | None = None) -> dict:
    import pandas as pd

    da, db = _model_dir(Path(a)), _model_dir(Path(b))
    ra, rb = read_model_results(da, strict=False), read_model_results(db, strict=False)
    shared = sorted(set(ra) & set(rb))
    if not shared:
        raise UserError(f"{da} and {db} have no task in common")
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    diffs_by_family: dict[tuple[str, str], list[np.ndarray]] = {}
    for task in shared:
        (pa, xa), (pb, xb) = ra[task], rb[task]
        fa, fb = xa.provenance.dataset_fingerprint, xb.provenance.dataset_fingerprint
        if fa != fb:
            raise UserError(f"task '{task}': {pa} and {pb} were computed on different data (dataset fingerprint "
                            f"{fa[:23]} vs {fb[:23]}); compare results of the same data only")
        if xa.task.version != xb.task.version:
            raise UserError(f"task '{task}': task version {xa.task.version} ({pa}) vs {xb.task.version} ({pb})")
        main = xa.task.main_score
        qa, qb = per_query_path(pa), per_query_path(pb)
        missing = [str(q) for q in (qa, qb) if not q.is_file()]
        if missing:
            skipped[task] = f"no per-query values ({missing[0]}); re-run `ugbench evaluate --overwrite`"
            continue
        ta, tb = pd.read_parquet(qa), pd.read_parquet(qb)
        if main not in ta.columns or main not in tb.columns:
            skipped[task] = f"main score '{main}' is not a mean over queries (no per-query values to pair)"
            continue
        for split in sorted(set(xa.scores) & set(xb.scores)):
            if splits and split not in splits:
                continue
            sa, sb = split_scores(ta, main, split), split_scores(tb, main, split)
            if set(sa.index) != set(sb.index) or sa.index.has_duplicates:
                raise UserError(f"task '{task}' split '{split}': the per-query files {qa} and {qb} do not hold the "
                                "same queries; re-run `ugbench evaluate --overwrite` for both")
            ids = sorted(sa.index)
            va, vb = sa.loc[ids].to_numpy(np.float64), sb.loc[ids].to_numpy(np.float64)
            res = paired_test(va, vb, seed=seed, keys=(task, split))
            rows.append({"task": task, "family": xa.task.family, "split": split, "main_score": main,
                         "a": float(va.mean()), "b": float(vb.mean()), **res})
            diffs_by_family.setdefault((xa.task.family, split), []).append(va - vb)
    families = []
    for (family, split), diffs in sorted(diffs_by_family.items()):
        res = paired_strata_test(diffs, seed=seed, keys=("family", family, split))
        tasks = [r for r in rows if r["family"] == family and r["split"] == split]
        families.append({"family": family, "split": split, "n_tasks": len(diffs),
                         "a": float(np.mean([r["a"] for r in tasks])), "b": float(np.mean([r["b"] for r in tasks])),
                         **res})
    return {"a": {"model": ra[shared[0]][1].model.name, "path": str(da)},
            "b": {"model": rb[shared[0]][1].model.name, "path": str(db)},
            "seed": seed, "method": "paired bootstrap (95% percentile CI) and paired sign-flip permutation test "
            "over the same queries, difference = a - b (ugbench.stats)",
            "tasks": rows, "families": families, "skipped": skipped}


def print_comparison(out: dict, console) -> None:
    from rich.table import Table

    a, b = out["a"]["model"], out["b"]["model"]
    for title, rows, key in (("task", out["tasks"], "task"), ("family", out["families"], "family")):
        if not rows:
            continue
        table = Table(title=f"{a} - {b}: per {title} (main score, paired over queries)")
        for c in (title, "split", "n", a, b, "diff", "95% CI", "p"):
            table.add_column(c, justify="left" if c in (title, "split") else "right")
        for r in rows:
            lo, hi = r["ci95"]
            table.add_row(r[key] + (f" ({r['main_score']})" if "main_score" in r else ""), r["split"],
                          str(r["n_queries"]), f"{r['a']:.4f}", f"{r['b']:.4f}", f"{r['difference']:+.4f}",
                          f"[{lo:+.4f}, {hi:+.4f}]", f"{r['p_value']:.4f}")
        console.print(table)
    for task, why in out["skipped"].items():
        console.print(f"[yellow]{task}: not compared: {why}[/]", highlight=False)


def write_comparison(out: dict, path: Path) -> None:
    from ugcore.atomic import write_text_atomic

    write_text_atomic(Path(path), json.dumps(out, indent=2) + "\n")
