"""Read a results directory and check every file against the benchmark, collecting every problem.

A rejected submission must list all that is wrong at once (a submitter who fixes one problem per
round trip gives up), so nothing here raises on a bad file: each check appends a message that names
the file and the fix, and the caller decides.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ugbench.results_schema import RESULTS_SCHEMA_VERSION, TaskResult

from .metric_bounds import check_scores
from .models import BenchmarkSpec, ModelRef, SourceFile, TaskScore

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024  # a results file holds scores and config, never embeddings

# Files `ugbench evaluate` writes beside the per-task results that are not results (summaries, logs).
# They are listed in the entry's source.ignored_files, never silently skipped.
SUMMARY_PREFIXES = ("_", ".", "summary", "run_summary", "results_summary", "leaderboard")

_MODEL_META_FIELDS = ("n_parameters", "embed_dim", "modalities", "adapter", "reference", "license",
                      "training_datasets")


@dataclass
class ModelSubmission:
    """The checked results of one model, ready to become a leaderboard entry."""

    directory: Path
    model: ModelRef | None = None
    scores: dict[str, TaskScore] = field(default_factory=dict)
    missing_tasks: list[str] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    git_commits: set[str | None] = field(default_factory=set)
    package_versions: set[str] = field(default_factory=set)
    fingerprints: dict[str, str] = field(default_factory=dict)
    dataset_paths: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"holds {name}; JSON numbers must be finite (write null or fix the metric)")


def _read_json(path: Path, rel: str, max_bytes: int, problems: list[str]) -> tuple[Any, bytes] | None:
    size = path.stat().st_size
    if size > max_bytes:
        problems.append(
            f"{rel}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit for a results file "
            "(results hold scores, not embeddings or per-item outputs; remove the extra data)"
        )
        return None
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"{rel}: not UTF-8 text ({e.reason} at byte {e.start}); re-run `ugbench evaluate`")
        return None
    try:
        return json.loads(text, parse_constant=_reject_constant), data
    except json.JSONDecodeError as e:
        problems.append(f"{rel}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}; "
                        "re-run `ugbench evaluate` for this task")
    except ValueError as e:
        problems.append(f"{rel}: {e}")
    except RecursionError:
        problems.append(f"{rel}: JSON nested too deeply to be a results file")
    return None


def discover_model_dirs(results_dir: Path) -> list[Path]:
    """The model directories under RESULTS_DIR: itself when it holds result files, else its subfolders."""
    def has_json(d: Path) -> bool:
        return any(p.suffix == ".json" and not _is_summary(p.name) for p in d.iterdir() if p.is_file())

    dirs = [results_dir] if has_json(results_dir) else []
    dirs += sorted(d for d in results_dir.iterdir() if d.is_dir() and not d.name.startswith(".") and has_json(d))
    return dirs


def _is_summary(name: str) -> bool:
    return name.lower().startswith(SUMMARY_PREFIXES)


def check_model_dir(
    model_dir: Path, spec: BenchmarkSpec, *, partial: bool, max_file_bytes: int, root: Path
) -> tuple[ModelSubmission, list[str]]:
    """Check one model's results against the benchmark; return what was read and every problem."""
    sub = ModelSubmission(directory=model_dir)
    problems: list[str] = []
    identities: dict[tuple[str, str], list[str]] = {}
    metadata: dict[str, Any] | None = None
    reported_unpinned: set[str] = set()

    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        rel = str(path.relative_to(root)) if path != root else path.name
        if path.suffix != ".json":
            sub.ignored.append(f"{rel} (not a .json results file)")
            continue
        if _is_summary(path.name):
            sub.ignored.append(f"{rel} (summary file; aggregates are recomputed, never read)")
            continue
        got = _read_json(path, rel, max_file_bytes, problems)
        if got is None:
            continue
        raw, data = got
        sub.files.append(SourceFile(path=rel, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)))
        if not isinstance(raw, dict):
            problems.append(f"{rel}: expected a JSON object (a TaskResult), got {type(raw).__name__}")
            continue
        version = raw.get("schema_version")
        if version is None:
            problems.append(f"{rel}: no schema_version; expected {RESULTS_SCHEMA_VERSION} "
                            "(re-run `ugbench evaluate` with this version of ugbench)")
            continue
        if str(version).split(".")[0] != RESULTS_SCHEMA_VERSION.split(".")[0]:
            problems.append(f"{rel}: schema_version {version!r} is not compatible with "
                            f"{RESULTS_SCHEMA_VERSION}; re-run `ugbench evaluate` with this version of ugbench")
            continue
        try:
            result = TaskResult.model_validate(raw)
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
                problems.append(f"{rel}: {loc}: {err['msg']}")
            continue
        _check_result(result, rel, spec, sub, problems, reported_unpinned)
        identities.setdefault((result.model.name, result.model.revision), []).append(rel)
        if metadata is None:
            metadata = dict(result.model.metadata)
            sub.model = _model_ref(result, rel, problems)

    if len(identities) > 1:
        listed = "; ".join(f"{n!r} revision {r!r} in {', '.join(fs)}" for (n, r), fs in identities.items())
        problems.append(f"{model_dir.name}: results of more than one model in one directory ({listed}); "
                        "submit one model per directory")
    if not sub.scores and not problems:
        problems.append(f"{model_dir}: no results for any task of {spec.name} {spec.version}")
    declared = [t.name for t in spec.tasks]
    sub.missing_tasks = [t for t in declared if t not in sub.scores]
    if sub.missing_tasks and sub.scores and not partial:
        problems.append(
            f"{model_dir.name}: missing {len(sub.missing_tasks)} of {len(declared)} declared tasks: "
            f"{', '.join(sub.missing_tasks)} (run them, or pass --partial to submit a partial entry)"
        )
    return sub, problems


def _model_ref(result: TaskResult, rel: str, problems: list[str]) -> ModelRef | None:
    meta = result.model.metadata
    fields = {k: meta[k] for k in _MODEL_META_FIELDS if meta.get(k) is not None}
    try:
        return ModelRef(name=result.model.name, revision=result.model.revision, **fields)
    except ValidationError as e:
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            problems.append(f"{rel}: model.metadata.{loc}: {err['msg']}")
        return None


def _main_interval(split_scores: dict[str, Any], main_score: str) -> list[float] | None:
    """The main score's 95% interval from results schema 1.1 (None for 1.0 results): the page shows it, and
    neighbouring ranks are told apart with it when no per-query values are at hand."""
    ci = (split_scores.get("ci95") or {}).get(main_score)
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return None
    return [float(ci[0]), float(ci[1])]


def _check_result(
    result: TaskResult,
    rel: str,
    spec: BenchmarkSpec,
    sub: ModelSubmission,
    problems: list[str],
    reported_unpinned: set[str],
) -> None:
    name = result.task.name
    declared = spec.task(name)
    if declared is None:
        sub.ignored.append(f"{rel} (task '{name}' is not part of {spec.name} {spec.version})")
        return
    if name in sub.scores:
        problems.append(f"{rel}: a second result for task '{name}'; keep one file per task")
        return
    n_before = len(problems)
    if result.task.version != declared.version:
        problems.append(f"{rel}: task '{name}' version {result.task.version} is not the declared "
                        f"version {declared.version}; re-run it with the current ugbench")
    if result.task.main_score != declared.main_score:
        problems.append(f"{rel}: task '{name}' main score is '{result.task.main_score}', the benchmark ranks "
                        f"'{declared.main_score}'")
    if result.task.family != declared.family:
        problems.append(f"{rel}: task '{name}' family is '{result.task.family}', declared '{declared.family}'")
    problems.extend(check_scores(result.scores, rel, declared.main_score))
    dataset = spec.datasets[declared.dataset]
    fp = result.provenance.dataset_fingerprint
    if dataset.fingerprint is None:
        if declared.dataset not in reported_unpinned:
            reported_unpinned.add(declared.dataset)
            problems.append(f"benchmark {spec.name} {spec.version} has not pinned the fingerprint of dataset "
                            f"'{declared.dataset}'; pin it with `ugbench leaderboard declare --data DIR`")
    elif fp != dataset.fingerprint:
        problems.append(f"{rel}: computed on dataset fingerprint {fp}, but {spec.name} {spec.version} "
                        f"declares '{declared.dataset}' = {dataset.fingerprint}; evaluate on the declared data"
                        + (f" ({dataset.build})" if dataset.build else ""))
    if not result.provenance.data_verified:
        problems.append(f"{rel}: its data was not verified against the fingerprint it names (no "
                        "provenance.data_verified); re-run `ugbench evaluate` with this ugbench, which checks the data")
    prev = sub.fingerprints.get(declared.dataset)
    if prev is not None and prev != fp:
        problems.append(f"{rel}: fingerprint {fp} differs from {prev} used by the other tasks on "
                        f"'{declared.dataset}'; evaluate every task on the same data")
    if result.provenance.task_version != result.task.version:
        problems.append(f"{rel}: provenance.task_version {result.provenance.task_version} != task.version "
                        f"{result.task.version}; the file was edited or mis-written")
    split_scores = result.scores.get(declared.split)
    if split_scores is None:
        problems.append(f"{rel}: no scores for split '{declared.split}' (has {sorted(result.scores)}); "
                        f"the benchmark ranks '{declared.split}'")
    else:
        main = split_scores.get("main_score")
        named = split_scores.get(declared.main_score)
        if not isinstance(main, (int, float)) or isinstance(main, bool):
            problems.append(f"{rel}: scores['{declared.split}']['main_score'] is not a number")
        elif isinstance(named, (int, float)) and abs(float(named) - float(main)) > 1e-9:
            problems.append(f"{rel}: main_score {main} != scores['{declared.split}']['{declared.main_score}'] "
                            f"{named}; the file is inconsistent")
    if len(problems) > n_before:
        return
    training = result.model.metadata.get("training_datasets") or {}
    trained_on = isinstance(training, dict) and (fp in training or declared.dataset in training)
    sub.scores[name] = TaskScore(
        version=declared.version,
        family=declared.family,
        metric=declared.main_score,
        split=declared.split,
        value=float(split_scores["main_score"]),
        ci95=_main_interval(split_scores, declared.main_score),
        zero_shot=bool(result.provenance.zero_shot) and not trained_on,
        dataset_fingerprint=fp,
    )
    sub.fingerprints[declared.dataset] = fp
    sub.git_commits.add(result.provenance.git_commit)
    sub.package_versions.add(result.provenance.package_version)
    if result.provenance.dataset_path:
        sub.dataset_paths.add(result.provenance.dataset_path)
