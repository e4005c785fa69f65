"""`ugbench health`: is each task of the benchmark able to tell models apart, and is it free of leaks?

A score means little without its floor and its noise. For every task the report puts side by side: the
task's analytic chance level on its main score (with the interval a chance-level model falls in), and the
main score with its 95% interval of every model given (the baselines: random, BM25, MiniLM, an untrained
backbone; any others). It raises three flags, as issue #14 states them:

`random_off_chance`
    The random model (seeded Gaussian vectors: a chance-level model by construction) scores outside the
    task's chance interval. A leak (the answer is readable from ids, candidate order or list lengths) or a
    scoring bug puts it there; so does bad luck in 5% of tasks, which is why a flag can be explained.
    Ranking tasks (hit@k, recall@k, MRR): the interval is ANALYTIC, chance +- 1.96 sd of the mean score of a
    model that orders each query's documents uniformly at random (each query's exact null mean and
    variance from its number of documents and positives; queries independent; normal approximation). It is
    used rather than random's own bootstrap interval because it does not depend on random's draw: a
    bootstrap interval collapses to a point when random happens to score 0 on every query of a small
    task (and would flag it), and it is as wide as random's luck rather than as wide as chance allows.
    Probe tasks (Spearman, R^2, accuracy: a probe fitted on random features has no closed-form null): the
    flag fires when the chance value lies outside random's own 95% bootstrap interval.
`text_only_wins`
    On a cross-modal task (its query and document modalities differ, "graph" aside, e.g. image -> text), a
    text-only model (BM25, MiniLM: it never sees the image) scores above every multimodal model. Either the
    text side carries the answer (a shortcut) or the multimodal models fail; both need a word in the card.
    The chance baseline (`random`) is a reference, not a contender: it is not among the multimodal models.
    A text-only model counts only when it scores above the chance interval (above the chance value where
    there is no interval): one at chance cannot read the documents and ties them all, and would "win" only
    when every multimodal model has a below-chance draw, which says nothing about a text shortcut.
`wide_interval`
    Some model's 95% interval on the main score is wider than +-MAX_HALF_WIDTH (.05 by default; half of
    hi - lo): too few queries to rank models that differ by a few points.

Explained flags: a task card in docs/tasks.md may carry, as its own bullet,

    - **Known flag:** `wide_interval`: only 40 test views; the 2.0 city has no more.
    - **Known flag:** `text_only_wins` (`geoloc_rank`, `geoloc_rank_graph`): the location texts name ...

(the flag name, optionally the card's task names it covers, default all of them, then the reason, which may
run on over indented lines). The report then shows that flag as explained, with the reason; a card that
explains a flag the report did not raise is listed too (the explanation went stale). A card naming an
unknown flag is an error.

Exit code of the command: 0 when no flag is unexplained, 1 when any is (so CI fails on a new problem), 2 for
a usage error (a one-line message).

Chance levels: `chance_for_task` takes each query's chance value from ugbench.chance (the one place that
computes chance; the mean over the split's queries is the task's chance) and its null variance from
`_null_moments` here (which ugbench.chance does not give). `_adapter_chance` stands in, computing the same
value from the queries, for results of a task version the registry no longer has (or without
ugbench.chance).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ugcore.errors import UserError

from .results_schema import TaskResult, read_model_results

FLAGS: dict[str, str] = {
    "random_off_chance": "the random model scores outside the task's chance interval",
    "text_only_wins": "a text-only model beats every multimodal model on a cross-modal task",
    "wide_interval": "a model's 95% interval is wider than the allowed half-width",
}
MAX_HALF_WIDTH = 0.05
Z95 = 1.959963984540054
GLOBAL_DEPTH = 100  # the global protocol's ranking depth (docs/ugbench.md): deeper positives count as missed
REPORT_SCHEMA = "ugbench-health/1"
# Roles when a results file does not declare the model's modalities (hand-written or very old results): the
# baselines of the leaderboard, by model name or adapter. Declared modalities always win.
CHANCE_MODELS = frozenset({"random"})
TEXT_ONLY_MODELS = frozenset({"bm25", "keyword", "minilm", "all-minilm-l6-v2", "sentence-transformers"})
_PROBE_NULL = {"spearman": 0.0, "kendall": 0.0, "pearson": 0.0, "r2": 0.0, "pairwise_accuracy": 0.5}


@dataclass
class ModelResults:
    """One model's results folder: its identity, its role in the report and its results per task."""

    name: str
    revision: str
    path: Path
    role: str  # chance | text-only | multimodal | other
    modalities: list[str] | None
    results: dict[str, tuple[Path, TaskResult]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The model's column in the report: its name (load_models refuses two folders of one name)."""
        return self.name


@dataclass
class Chance:
    """A task's chance level on its main score and the interval a chance-level model falls in (95%)."""

    value: float | None
    interval: list[float] | None
    method: str  # analytic | random's bootstrap interval | none
    note: str = ""


# ----------------------------------------------------------------------------------------------- roles


def model_role(result: TaskResult) -> tuple[str, list[str] | None]:
    """(role, declared modalities) of the model behind a results file.

    chance: the random baseline. text-only: reads text, never images. multimodal: reads text and images.
    other: anything else (location-only, image-only). From ModelMeta.modalities in the results when present,
    else from the documented list of baselines (CHANCE_MODELS, TEXT_ONLY_MODELS)."""
    meta = result.model.metadata or {}
    keys = {str(result.model.name).lower(), str(meta.get("adapter") or "").lower()}
    mods = meta.get("modalities")
    mods = [str(m) for m in mods] if isinstance(mods, list) else None
    if keys & CHANCE_MODELS:
        return "chance", mods
    if mods is not None:
        if "text" in mods and "image" not in mods:
            return "text-only", mods
        if "text" in mods and "image" in mods:
            return "multimodal", mods
        return "other", mods
    return ("text-only" if keys & TEXT_ONLY_MODELS else "other"), None


def cross_modal(modalities: dict[str, list[str]]) -> bool:
    """A task whose query and document modalities differ ("graph" aside): both sides must have items."""
    q = {m for m in modalities.get("query", []) if m != "graph"}
    d = {m for m in modalities.get("document", []) if m != "graph"}
    return bool(q) and bool(d) and q != d


# --------------------------------------------------------------------------------------------- loading


def load_models(paths: list[Path]) -> list[ModelResults]:
    """Every model folder under `paths` (each one model's folder, OUTPUT/<model-slug>, or the --output folder
    of `ugbench evaluate` holding several), as `ugbench submit` finds them."""
    from .leaderboard.validate import discover_model_dirs

    models: list[ModelResults] = []
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            what = "is a file" if p.exists() else "does not exist"
            raise UserError(f"results folder {p} {what}; give the --output folder of `ugbench evaluate` or one "
                            "model's folder inside it")
        dirs = discover_model_dirs(p)
        if not dirs:
            raise UserError(f"{p} holds no results files (*.json), nor do its subfolders; run `ugbench evaluate "
                            f"--output {p}` first (or pass --run-baselines)")
        for d in dirs:
            results = read_model_results(d)
            if not results:
                continue
            idents = {(r.model.name, r.model.revision) for _, r in results.values()}
            if len(idents) > 1:
                raise UserError(f"{d} holds results of {len(idents)} models ({sorted(idents)[:3]}); one model per "
                                "folder")
            first = next(iter(results.values()))[1]
            role, mods = model_role(first)
            models.append(ModelResults(first.model.name, first.model.revision, d, role, mods, results))
    seen: dict[str, ModelResults] = {}
    for m in models:
        if m.name in seen:
            other = seen[m.name]
            raise UserError(f"{m.path} and {other.path} both hold model '{m.name}' (revisions {other.revision!r}, "
                            f"{m.revision!r}); give one folder per model")
        seen[m.name] = m
    return models


# ---------------------------------------------------------------------------------------------- chance


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


@lru_cache(maxsize=4096)
def _first_rank_pmf(n: int, m: int) -> np.ndarray:
    """P(first positive at rank r), r = 1..n-m+1, for m positives among n documents in uniform random order:
    C(n - r, m - 1) / C(n, m)."""
    r = np.arange(1, n - m + 2)
    if m == 1:
        return np.full(n, 1.0 / n)
    from scipy.special import gammaln

    logp = (gammaln(n - r + 1) - gammaln(m) - gammaln(n - r - m + 2)) - _log_comb(n, m)
    return np.exp(logp)


@lru_cache(maxsize=4096)
def _null_moments(metric: str, n: int, m: int, depth: int | None) -> tuple[float, float] | None:
    """(mean, variance) of one query's metric value when its n documents (m positives) are in uniform random
    order; depth: ranks deeper than it score 0 (global protocol). None for a metric without a formula."""
    if n <= 0 or m <= 0:
        return (0.0, 0.0)
    m = min(m, n)
    name, _, kk = metric.partition("@")
    if name in ("hit", "recall") and kk.isdigit():
        k = min(int(kk), n, depth or n)
        if name == "hit":
            p = 1.0 if n - m < k else 1.0 - math.exp(_log_comb(n - m, k) - _log_comb(n, k))
            return (p, p * (1.0 - p))
        var = k * (m / n) * (1 - m / n) * (n - k) / (n - 1) if n > 1 else 0.0  # hypergeometric count
        return (k / n, var / m**2)
    if metric == "mrr":
        pmf = _first_rank_pmf(n, m)
        inv = 1.0 / np.arange(1, len(pmf) + 1)
        if depth is not None:
            inv[depth:] = 0.0
        mean = float(pmf @ inv)
        return (mean, max(0.0, float(pmf @ inv**2) - mean**2))
    return None


def _ranking_chance(metric: str, queries, protocol: str, n_docs: int) -> Chance:
    counts: Counter[tuple[int, int]] = Counter()
    for cands, pos in zip(queries["candidate_ids"], queries["positive_ids"], strict=True):
        pos_set = {str(p) for p in (pos if pos is not None else [])}
        if protocol == "global":
            counts[(n_docs, len(pos_set))] += 1
        else:
            cset = {str(c) for c in (cands if cands is not None else [])}
            counts[(len(cset), len(pos_set & cset))] += 1
    n_q = sum(counts.values())
    if n_q == 0:
        return Chance(None, None, "none", "no queries in this split")
    depth = GLOBAL_DEPTH if protocol == "global" else None
    mean = var = 0.0
    for (n, m), c in counts.items():
        mom = _null_moments(metric, n, m, depth)
        if mom is None:
            return Chance(None, None, "none", f"no analytic chance for '{metric}'")
        mean += c * mom[0]
        var += c * mom[1]
    mean /= n_q
    half = Z95 * math.sqrt(var) / n_q
    return Chance(mean, [max(0.0, mean - half), min(1.0, mean + half)], "analytic")


def _registered(result: TaskResult):
    """The registry's TaskMeta of a result's task when it is the same task version (else None)."""
    from .tasks.registry import get_task

    try:
        meta = get_task(result.task.name)
    except UserError:
        return None
    return meta if meta.version == result.task.version else None


def chance_for_task(ud, result: TaskResult, split: str) -> Chance:
    """The chance level of `result`'s task on its main score, on `split` of the data `ud`, and the interval a
    chance-level model falls in (ranking metrics with a variance formula; else None: random's own interval
    is used).

    The value comes from ugbench.chance (chance_per_query: the one place that computes chance, also for the
    results' `chance`); each query's null variance from `_null_moments`, which that module does not give.
    Where ugbench.chance is not available or the task is not registered at this version, the adapter
    `_adapter_chance` computes the same value from the queries."""
    meta = _registered(result)
    try:
        from . import chance as chance_mod
    except ImportError:  # the task-side chance module is not there: the adapter below stands in
        chance_mod = None  # type: ignore[assignment]
    if meta is None or chance_mod is None:
        return _adapter_chance(ud, result, split)
    from .encoding import as_list

    metric = meta.main_score
    spec = ud.task_spec(meta.data_task)
    try:
        if meta.protocol == "probe":
            rows = ud.task_table(meta.data_task, "targets")
            rows = rows[rows["split"].astype(str) == split]
            if not len(rows):
                return Chance(None, None, "none", "no items in this split")
            value = chance_mod.chance_level(meta, rows, None, spec=spec)
            return Chance(float(value), None, "random's bootstrap interval")
        queries = meta.select_queries(ud.task_table(meta.data_task, "queries"))
        rows = queries[queries["split"].astype(str) == split]
        corpus = ud.task_table(meta.data_task, "corpus") if meta.protocol == "global" else None
        mu = chance_mod.chance_per_query(meta, rows, corpus, spec=spec)
        n = chance_mod.n_ranked(meta, rows, corpus, spec)
    except ValueError as e:  # ugbench.chance has no formula for this metric or these rows
        return Chance(None, None, "none", str(e))
    if not len(mu):
        return Chance(None, None, "none", "no queries in this split")
    m = [len(as_list(x)) for x in rows["positive_ids"]]
    depth = GLOBAL_DEPTH if meta.protocol == "global" else None
    var = 0.0
    for ni, mi in zip(n, m, strict=True):
        mom = _null_moments(metric, int(ni), int(mi), depth)
        if mom is None:
            return Chance(float(np.mean(mu)), None, "random's bootstrap interval",
                          f"no null variance for '{metric}'")
        var += mom[1]
    value = float(np.mean(mu))
    half = Z95 * math.sqrt(var) / len(mu)
    return Chance(value, [max(0.0, value - half), min(1.0, value + half)], "analytic")


def _adapter_chance(ud, result: TaskResult, split: str) -> Chance:
    """Chance from the queries without ugbench.chance (results of a task version no longer registered). Ranking
    tasks: the mean over the split's queries of each query's expected main score under a uniform random order
    of its candidates (all documents under the global protocol): 1/n for hit@1 with one positive, H(n)/n for
    MRR, k/n for recall@k. Probe tasks: 0 for correlations and R^2, .5 for pairwise accuracy, the mean over
    classification targets of the majority class's share for accuracy (what uninformative features score)."""
    task = result.task
    metric = task.main_score
    extra = task.model_extra or {}
    data_task = str(extra.get("data_task") or task.name)
    protocol = str(extra.get("protocol") or "local")
    if protocol == "probe" or metric in _PROBE_NULL or metric == "accuracy":
        if metric in _PROBE_NULL:
            return Chance(_PROBE_NULL[metric], None, "random's bootstrap interval")
        if metric == "accuracy":
            targets = (result.scores.get(split) or {}).get("targets") or {}
            try:
                table = ud.task_table(data_task, "targets")
            except Exception:  # noqa: BLE001 - a task folder without targets: no chance level, said so
                return Chance(None, None, "none", "no targets table")
            table = table[table["split"].astype(str) == split] if "split" in table else table
            shares = [float(table[t].value_counts(normalize=True).max()) for t, s in targets.items()
                      if isinstance(s, dict) and "accuracy" in s and t in table and len(table)]
            if not shares:
                return Chance(None, None, "none", "no classification target found")
            return Chance(float(np.mean(shares)), None, "random's bootstrap interval")
        return Chance(None, None, "none", f"no chance level for '{metric}'")
    queries = ud.task_table(data_task, "queries")
    queries = queries[queries["split"].astype(str) == split]
    n_docs = (result.scores.get(split) or {}).get("n_documents")
    if not isinstance(n_docs, int):
        n_docs = len(ud.task_table(data_task, "corpus"))
    return _ranking_chance(metric, queries, protocol, n_docs)


# ------------------------------------------------------------------------------------ task-card markers

_CARD = re.compile(r"^### `([^`]+)`\n(.*?)(?=^### |\Z)", re.S | re.M)
_KNOWN = re.compile(r"^- \*\*Known flag:\*\* `([^`]+)`(?: \(([^)]*)\))?:[ \t]*(.*(?:\n(?!- |\n)[ \t]+.*)*)", re.M)


def read_explanations(cards: Path) -> dict[tuple[str, str], str]:
    """(task name, flag) -> reason, from the `- **Known flag:**` bullets of the task cards in `cards`.

    A bullet covers every task its card names (heading and the `Variants:` list) unless it lists some in
    parentheses after the flag. An unknown flag name or a listed task not on the card is a UserError: the
    explanation would silently explain nothing."""
    text = Path(cards).read_text(encoding="utf-8")
    out: dict[tuple[str, str], str] = {}
    for head, body in _CARD.findall(text):
        first = body.split("\n- **Measures:**")[0]
        variants = re.search(r"\*\*Variants:\*\*(.*?)(?:Alias|$)", first, flags=re.S)
        names = {head, *(re.findall(r"`([^`]+)`", variants.group(1)) if variants else [])}
        for flag, scope, reason in _KNOWN.findall(body):
            if flag not in FLAGS:
                raise UserError(f"{cards}: card '{head}' explains unknown flag '{flag}'; known flags: "
                                f"{', '.join(FLAGS)}")
            listed = re.findall(r"`([^`]+)`", scope) if scope else sorted(names)
            stray = [t for t in listed if t not in names]
            if stray:
                raise UserError(f"{cards}: card '{head}' explains '{flag}' for {stray}, which the card does not "
                                f"name (it names {sorted(names)})")
            reason = " ".join(reason.split())
            if not reason:
                raise UserError(f"{cards}: card '{head}' explains '{flag}' without a reason; write why after the colon")
            for t in listed:
                out[(t, flag)] = reason
    return out


def default_task_cards() -> Path | None:
    """docs/tasks.md of the source tree ugbench runs from, when there is one."""
    p = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"
    return p if p.is_file() else None


# -------------------------------------------------------------------------------------------- the report


def _half_width(ci: list[float] | None) -> float | None:
    return None if ci is None else (float(ci[1]) - float(ci[0])) / 2


def _main(result: TaskResult, split: str) -> tuple[float | None, list[float] | None]:
    sc = result.scores.get(split)
    if sc is None:
        return None, None
    ci = (sc.get("ci95") or {}).get(result.task.main_score)
    return float(sc["main_score"]), ([float(ci[0]), float(ci[1])] if ci is not None else None)


def health_report(data: Path, models: list[ModelResults], *, split: str = "test", tasks: list[str] | None = None,
                  max_half_width: float = MAX_HALF_WIDTH, task_cards: Path | None = None) -> dict[str, Any]:
    """The health report (a JSON-ready dict) of every task the models' results hold (or `tasks`)."""
    from ugcore.provenance import git_commit, package_version, utc_now
    from ugdata.format import load

    if not models:
        raise UserError("no results to report on; give results folders (or --run-baselines)")
    if not Path(data).exists():
        raise UserError(f"--data {data} does not exist; give the UGData directory the results were computed on")
    ud = load(data)  # NotUGDataError is a UserError
    for m in models:
        for p, r in m.results.values():
            if r.provenance.dataset_fingerprint != ud.fingerprint:
                raise UserError(f"{p} was computed on other data (fingerprint {r.provenance.dataset_fingerprint[:23]}"
                                f"), not {data} ({ud.fingerprint[:23]}); give the data of the results")
    names = sorted({t for m in models for t in m.results})
    if tasks:
        unknown = [t for t in tasks if t not in names]
        if unknown:
            raise UserError(f"--tasks {','.join(unknown)}: no results for {'it' if len(unknown) == 1 else 'them'} "
                            f"(results hold: {', '.join(names) or 'none'})")
        names = [t for t in names if t in tasks]
    explanations = read_explanations(task_cards) if task_cards is not None else {}
    rows = []
    for task in names:
        holders = [(m, m.results[task][1]) for m in models if task in m.results]
        ref = holders[0][1]
        versions = {r.task.version for _, r in holders}
        if len(versions) > 1:
            raise UserError(f"task '{task}': the results are of task versions {sorted(versions)}; re-run the old "
                            "ones with `ugbench evaluate --overwrite`")
        rows.append(_task_row(ud, task, ref, holders, split, max_half_width, explanations))
    raised = {(r["task"], f["flag"]) for r in rows for f in r["flags"]}
    stale = [{"task": t, "flag": f, "explanation": why} for (t, f), why in sorted(explanations.items())
             if t in names and (t, f) not in raised]
    n_flags = sum(len(r["flags"]) for r in rows)
    n_unexplained = sum(not f["explained"] for r in rows for f in r["flags"])
    return {
        "schema": REPORT_SCHEMA,
        "created_at": utc_now(),
        "package_version": package_version(),
        "git_commit": git_commit(),
        "data": {"name": ud.manifest.get("name"), "path": Path(data).name, "fingerprint": ud.fingerprint},
        "split": split,
        "level": 0.95,
        "max_half_width": max_half_width,
        "task_cards": str(task_cards) if task_cards is not None else None,
        "models": [{"name": m.name, "revision": m.revision, "role": m.role, "modalities": m.modalities,
                    "path": m.path.name} for m in models],
        "flags": dict(FLAGS),
        "tasks": rows,
        "explained_not_raised": stale,
        "summary": {"n_tasks": len(rows), "n_flags": n_flags, "n_unexplained": n_unexplained,
                    "exit_code": 1 if n_unexplained else 0},
    }


def _task_row(ud, task: str, ref: TaskResult, holders: list[tuple[ModelResults, TaskResult]], split: str,
              max_half_width: float, explanations: dict[tuple[str, str], str]) -> dict[str, Any]:
    extra = ref.task.model_extra or {}
    mods = ref.task.modalities or {}
    chance = chance_for_task(ud, ref, split)
    scores: dict[str, dict[str, Any]] = {}
    n_queries = None
    for m, r in holders:
        value, ci = _main(r, split)
        sc = r.scores.get(split) or {}
        n_queries = n_queries or sc.get("n_queries") or sc.get("n_items")
        scores[m.label] = {"role": m.role, "value": value, "ci95": ci, "half_width": _half_width(ci)}
    flags: list[dict[str, Any]] = []
    checks: dict[str, str] = {}

    def flag(name: str, detail: str) -> None:
        why = explanations.get((task, name))
        flags.append({"flag": name, "detail": detail, "explained": why is not None, "explanation": why})

    # random outside its chance interval
    rnd = [(m, s) for m, s in ((m, scores[m.label]) for m, _ in holders) if m.role == "chance"]
    if not rnd or rnd[0][1]["value"] is None:
        checks["random_off_chance"] = f"not checked: no random model with split '{split}'"
    elif chance.value is None:
        checks["random_off_chance"] = f"not checked: {chance.note or 'no chance level'}"
    else:
        m, s = rnd[0]
        if chance.interval is not None:
            lo, hi = chance.interval
            if not lo - 1e-12 <= s["value"] <= hi + 1e-12:
                flag("random_off_chance", f"{m.label} {s['value']:.3f} is outside the chance interval "
                     f"[{lo:.3f}, {hi:.3f}] (chance {chance.value:.3f}, analytic)")
            checks["random_off_chance"] = "checked: random's score against the analytic chance interval"
        elif s["ci95"] is None:
            checks["random_off_chance"] = "not checked: random's results carry no 95% interval (results 1.0)"
        else:
            lo, hi = s["ci95"]
            if not lo - 1e-12 <= chance.value <= hi + 1e-12:
                flag("random_off_chance", f"chance {chance.value:.3f} is outside {m.label}'s 95% interval "
                     f"[{lo:.3f}, {hi:.3f}] (score {s['value']:.3f})")
            checks["random_off_chance"] = "checked: chance against random's bootstrap interval"
    # text-only beats every multimodal model on a cross-modal task
    is_cross = cross_modal(mods)
    text = [(m.label, scores[m.label]["value"]) for m, _ in holders
            if m.role == "text-only" and scores[m.label]["value"] is not None]
    multi = [(m.label, scores[m.label]["value"]) for m, _ in holders
             if m.role == "multimodal" and scores[m.label]["value"] is not None]
    # a text-only model at chance (it cannot read the documents and ties them all) has no shortcut: it would
    # "win" only by the multimodal models' bad luck, so only text-only scores above the chance interval count
    floor = (chance.interval[1] if chance.interval is not None else chance.value) if chance.value is not None else None
    above = [(k, v) for k, v in text if floor is None or v > floor + 1e-12]
    if not is_cross:
        checks["text_only_wins"] = "not applicable: not a cross-modal task"
    elif not text or not multi:
        checks["text_only_wins"] = f"not checked: no {'text-only' if not text else 'multimodal'} model"
    elif not above:
        checks["text_only_wins"] = "checked: no text-only model scores above the chance interval"
    else:
        text = above
        best_t = max(text, key=lambda x: x[1])
        best_m = max(multi, key=lambda x: x[1])
        if best_t[1] > best_m[1] + 1e-12:
            flag("text_only_wins", f"{best_t[0]} (text-only) {best_t[1]:.3f} > best multimodal {best_m[0]} "
                 f"{best_m[1]:.3f}")
        checks["text_only_wins"] = "checked"
    # wide intervals
    wide = [(k, s["half_width"]) for k, s in scores.items()
            if s["half_width"] is not None and s["half_width"] > max_half_width + 1e-12]
    if wide:
        flag("wide_interval", ", ".join(f"{k} ±{hw:.3f}" for k, hw in wide) + f" (allowed ±{max_half_width:.3f})")
    checks["wide_interval"] = ("checked" if any(s["half_width"] is not None for s in scores.values())
                               else "not checked: no model's results carry a 95% interval")
    return {
        "task": task, "family": ref.task.family, "version": ref.task.version,
        "protocol": extra.get("protocol"), "main_score": ref.task.main_score, "split": split,
        "n_queries": n_queries, "modalities": mods, "cross_modal": is_cross,
        "chance": {"value": chance.value, "interval": chance.interval, "method": chance.method,
                   "note": chance.note},
        "scores": scores, "flags": flags, "checks": checks,
    }


# ------------------------------------------------------------------------------------------- rendering


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _score_cell(s: dict[str, Any] | None) -> str:
    if s is None or s["value"] is None:
        return "–"
    return _num(s["value"]) + (f" ±{s['half_width']:.3f}" if s["half_width"] is not None else "")


def _chance_cell(c: dict[str, Any]) -> str:
    if c["value"] is None:
        return "–"
    iv = c["interval"]
    return _num(c["value"]) + (f" [{iv[0]:.3f}, {iv[1]:.3f}]" if iv else "")


def _flags_cell(r: dict[str, Any]) -> str:
    return ", ".join(f["flag"] + (" (explained)" if f["explained"] else "") for f in r["flags"]) or "ok"


def print_report(report: dict[str, Any], console) -> None:
    """One rich table, a row per task; then every flag with its detail and explanation."""
    from rich.table import Table

    models = [m["name"] for m in report["models"]]
    roles = {m["name"]: m["role"] for m in report["models"]}
    table = Table(title=f"UGBench health: {report['data']['name'] or report['data']['path']} "
                  f"(split {report['split']}; main score, 95% CI as ±half-width)")
    table.add_column("task", overflow="fold")
    table.add_column("main score")
    table.add_column("n", justify="right")
    table.add_column("chance [interval]", justify="right")
    for m in models:
        table.add_column(f"{m}\n({roles[m]})", justify="right")
    table.add_column("flags", overflow="fold")
    for r in report["tasks"]:
        flags = _flags_cell(r)
        style = "red" if any(not f["explained"] for f in r["flags"]) else ("yellow" if r["flags"] else "green")
        table.add_row(r["task"], r["main_score"], str(r["n_queries"] or "–"), _chance_cell(r["chance"]),
                      *[_score_cell(r["scores"].get(m)) for m in models], f"[{style}]{flags}[/]")
    console.print(table)
    for r in report["tasks"]:
        for f in r["flags"]:
            how = f"explained: {f['explanation']}" if f["explained"] else "[bold red]unexplained[/]"
            console.print(f"{r['task']}: [bold]{f['flag']}[/]: {f['detail']} ({how})", highlight=False)
    for s in report["explained_not_raised"]:
        console.print(f"[yellow]{s['task']}: the task card explains '{s['flag']}', which was not raised "
                      "(stale explanation?)[/]", highlight=False)
    sm = report["summary"]
    colour = "red" if sm["n_unexplained"] else "green"
    console.print(f"[{colour}]{sm['n_tasks']} tasks, {sm['n_flags']} flag(s), {sm['n_unexplained']} unexplained[/]",
                  highlight=False)


def render_markdown(report: dict[str, Any]) -> str:
    """The report as a docs page (docs/benchmark-health.md): method, one table, the flags."""
    from .leaderboard.render import md_escape

    models = [m["name"] for m in report["models"]]
    roles = {m["name"]: m["role"] for m in report["models"]}
    data = report["data"]
    lines = [
        "# UGBench benchmark health",
        "",
        f"Generated by `ugbench health` on {md_escape(data['path'])} ("
        + (f"dataset {md_escape(data['name'])}, " if data.get("name") else "")
        + f"fingerprint {md_escape(str(data['fingerprint'])[:23])}...), split {md_escape(report['split'])}, "
        f"{report['created_at'][:10]}, ugbench {md_escape(report['package_version'])}"
        + (f" at `{str(report['git_commit'])[:10]}`" if report.get("git_commit") else "") + ".",
        "Regenerate with `ugbench health --data DIR RESULTS... --out report.json --markdown "
        "docs/benchmark-health.md` (docs/ugbench.md, \"Benchmark health\").",
        "",
        "Each cell is a model's main score with the half-width of its 95% bootstrap interval over queries "
        "(`0.512 ±0.031`). *Chance* is the task's analytic chance level on the main score; for ranking tasks the "
        "bracket is the interval (95%) a model ordering each query's documents at random falls in. Flags: "
        f"`random_off_chance` ({FLAGS['random_off_chance']}; probe tasks: chance outside random's own interval), "
        f"`text_only_wins` ({FLAGS['text_only_wins']}), `wide_interval` (a 95% interval wider than "
        f"±{report['max_half_width']:.2f}). A flag is *explained* by a `Known flag` bullet in the task's card "
        "([tasks.md](tasks.md)).",
        "",
        "| task | main score | n | chance [interval] | "
        + " | ".join(f"{md_escape(m)} ({roles[m]})" for m in models) + " | flags |",
        "|---|---|---:|---:|" + "---:|" * len(models) + "---|",
    ]
    for r in report["tasks"]:
        lines.append(f"| {md_escape(r['task'])} | {md_escape(r['main_score'])} | {r['n_queries'] or '–'} | "
                     f"{_chance_cell(r['chance'])} | "
                     + " | ".join(_score_cell(r["scores"].get(m)) for m in models) + f" | {_flags_cell(r)} |")
    sm = report["summary"]
    lines += ["", f"**{sm['n_tasks']} tasks, {sm['n_flags']} flag(s), {sm['n_unexplained']} unexplained.**", ""]
    flagged = [(r, f) for r in report["tasks"] for f in r["flags"]]
    if flagged:
        lines += ["## Flags", ""]
        for r, f in flagged:
            how = f"explained in its card: {md_escape(f['explanation'])}" if f["explained"] else "**unexplained**"
            lines.append(f"- {md_escape(r['task'])}: `{f['flag']}`: {md_escape(f['detail'])}. {how}")
        lines.append("")
    if report["explained_not_raised"]:
        lines += ["## Explanations with no flag", ""]
        lines += [f"- {md_escape(s['task'])}: `{s['flag']}` is explained in its card but was not raised."
                  for s in report["explained_not_raised"]]
        lines.append("")
    lines += ["## Models", ""]
    lines += [f"- {md_escape(m['name'])} (revision {md_escape(m['revision'])}): {m['role']}"
              + (f", modalities {', '.join(m['modalities'])}" if m["modalities"] else "")
              for m in report["models"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path | None = None, markdown: Path | None = None) -> None:
    """The JSON report and/or the Markdown page, each written atomically (a reader never sees half a file)."""
    from ugcore.atomic import write_text_atomic

    if out is not None:
        write_text_atomic(Path(out), json.dumps(report, indent=2, allow_nan=False) + "\n")
    if markdown is not None:
        write_text_atomic(Path(markdown), render_markdown(report))
