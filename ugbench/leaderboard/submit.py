"""`ugbench submit`: turn a results directory into leaderboard entries, or list everything wrong with it.

Order of work: read the declaration, check every file of every model (collecting problems), and only
when there are none take the lock, check duplicates on the freshest leaderboard and write. Nothing is
written for a rejected submission, and a submission of several models lands all or nothing.
"""

from __future__ import annotations

from pathlib import Path

from ugcore.errors import UserError
from ugcore.provenance import utc_now

from .aggregate import aggregate
from .benchmark import check_against_registry, default_declaration_path, load_benchmark
from .models import BenchmarkSpec, DataRef, Entry, Leaderboard, Source
from .store import load_leaderboard, update_leaderboard
from .validate import DEFAULT_MAX_FILE_BYTES, ModelSubmission, check_model_dir, discover_model_dirs


class SubmissionRejected(UserError):
    """A submission with problems: a one-line summary, then every problem, one per line."""

    def __init__(self, problems: list[str], what: str = "submission"):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what} rejected: {len(self.problems)} problem(s) found; nothing was written\n{lines}")


def _entry(spec: BenchmarkSpec, sub: ModelSubmission, submitted_at: str) -> Entry:
    assert sub.model is not None
    return Entry(
        model=sub.model,
        benchmark=spec.name,
        benchmark_version=spec.version,
        partial=bool(sub.missing_tasks),
        missing_tasks=sub.missing_tasks,
        zero_shot=all(s.zero_shot for s in sub.scores.values()),
        scores={t.name: sub.scores[t.name] for t in spec.tasks if t.name in sub.scores},
        aggregates=aggregate(spec, sub.scores),
        data=DataRef(fingerprints=dict(sub.fingerprints), dataset_paths=sorted(sub.dataset_paths)),
        submitted_at=submitted_at,
        source=Source(
            path=str(sub.directory.resolve()),  # published as its name only (models.public_name)
            files=sub.files,
            results_git_commits=sorted(sub.git_commits, key=lambda c: c or ""),
            package_versions=sorted(sub.package_versions),
            ignored_files=sub.ignored,
        ),
    )


def prepare_entries(
    results_dir: str | Path,
    spec: BenchmarkSpec,
    *,
    partial: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    submitted_at: str | None = None,
) -> list[Entry]:
    """Check RESULTS_DIR against `spec` and build its entries; raise SubmissionRejected listing every problem."""
    root = Path(results_dir)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "not found"
        raise UserError(f"results directory {root} {what}; pass the --output folder of `ugbench evaluate` "
                        "(or one model's folder inside it)")
    problems = check_against_registry(spec)
    model_dirs = discover_model_dirs(root)
    if not model_dirs:
        raise SubmissionRejected(problems + [f"{root}: no results files (*.json) here or in its subfolders; "
                                             "pass the --output folder of `ugbench evaluate`"])
    subs = []
    for d in model_dirs:
        sub, found = check_model_dir(d, spec, partial=partial, max_file_bytes=max_file_bytes, root=root)
        problems.extend(found)
        subs.append(sub)
    seen: dict[tuple[str, str], Path] = {}
    for sub in subs:
        if sub.model is None:
            continue
        key = (sub.model.name, sub.model.revision)
        if key in seen:
            problems.append(f"{sub.directory} and {seen[key]} both hold results of model {key[0]!r} revision "
                            f"{key[1]!r}; submit one of them")
        seen[key] = sub.directory
    if problems:
        raise SubmissionRejected(problems)
    when = submitted_at or utc_now()
    return [_entry(spec, sub, when) for sub in subs]


def submit(
    results_dir: str | Path,
    leaderboard: str | Path,
    *,
    benchmark: str | Path | None = None,
    replace: bool = False,
    partial: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> list[Entry]:
    """Validate RESULTS_DIR and add its entries to LEADERBOARD (created if absent); return the new entries.

    The benchmark declaration defaults to the file beside the leaderboard (ugbench.json ->
    ugbench.benchmark.json). Duplicates (model, revision, benchmark version) are refused unless `replace`.
    """
    lb_path = Path(leaderboard)
    if lb_path.is_dir():
        raise UserError(f"leaderboard {lb_path} is a folder; pass the leaderboard's .json file")
    spec = load_benchmark(benchmark or default_declaration_path(lb_path))
    if lb_path.exists():
        existing = load_leaderboard(lb_path)  # fail early (before the work) on a corrupt leaderboard
        _check_same_benchmark(existing, spec, lb_path)
    entries = prepare_entries(results_dir, spec, partial=partial, max_file_bytes=max_file_bytes)

    def change(lb: Leaderboard) -> Leaderboard:
        _check_same_benchmark(lb, spec, lb_path)
        problems = []
        kept = list(lb.entries)
        for new in entries:
            old = [e for e in kept if e.key == new.key]
            if old and not replace:
                problems.append(
                    f"{lb_path} already ranks model {new.model.name!r} revision {new.model.revision!r} on "
                    f"{spec.name} {spec.version} (submitted {old[0].submitted_at}); pass --replace to replace it"
                )
                continue
            new.replaced = [e.submitted_at for e in old]
            kept = [e for e in kept if e.key != new.key] + [new]
        if problems:
            raise SubmissionRejected(problems)
        return Leaderboard(benchmark=spec, entries=kept, updated_at=lb.updated_at)

    update_leaderboard(lb_path, spec, change)
    return entries


def _check_same_benchmark(lb: Leaderboard, spec: BenchmarkSpec, path: Path) -> None:
    old = lb.benchmark
    if old.name != spec.name:
        raise UserError(f"leaderboard {path} ranks benchmark {old.name!r}, the declaration is {spec.name!r}; "
                        "pass the matching --benchmark or another --leaderboard")
    ranked = any(e.benchmark_version == spec.version for e in lb.entries)
    if old.version == spec.version and old != spec and ranked:
        raise UserError(
            f"the declaration of {spec.name} {spec.version} differs from the one {path} was built with; "
            "a changed task set, version or fingerprint needs a new benchmark version (`ugbench leaderboard "
            "declare --version ...`), so that ranked entries keep their meaning"
        )
