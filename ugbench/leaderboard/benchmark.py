"""The benchmark declaration: which tasks, at which versions, on which data, make a complete submission.

The declaration is an explicit, reviewable file (leaderboards/ugbench.benchmark.json). It is written
by `ugbench leaderboard declare`, which takes the task set, versions, families and main scores from
ugbench's task registry (`registry_tasks()`, the one place that knows the registry's API) and the
dataset fingerprint from a UGData directory. At submission the declaration is checked against the
registry again, so a task whose version moved on cannot be ranked under its old declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ugcore.errors import UserError

from ._io import load_json_model
from .models import BenchmarkSpec, DeclaredDataset, DeclaredTask
from .store import write_public_text

DECLARATION_SUFFIX = ".benchmark.json"


@dataclass(frozen=True)
class RegistryTask:
    """What the leaderboard needs to know about one task of the harness's registry."""

    name: str
    version: str
    family: str
    main_score: str
    split: str = "test"


def registry_tasks() -> dict[str, RegistryTask] | None:
    """The harness's registered tasks by name, or None when the registry is not importable.

    This is the single adapter between the leaderboard and ugbench.tasks.registry (`entries()` -> TaskMeta).
    """
    try:
        from ugbench.tasks import registry
    except ImportError:
        return None
    return {m.name: _from_meta(m) for m in registry.entries()}


def _from_meta(meta: object) -> RegistryTask:
    splits = list(getattr(meta, "splits", None) or ["test"])
    return RegistryTask(
        name=str(meta.name),  # type: ignore[attr-defined]
        version=str(meta.version),  # type: ignore[attr-defined]
        family=str(meta.family),  # type: ignore[attr-defined]
        main_score=str(meta.main_score),  # type: ignore[attr-defined]
        split="test" if "test" in splits else str(splits[0]),
    )


def tasks_for_data(ug: object) -> dict[str, RegistryTask]:
    """Registered tasks whose data the UGData directory holds (what `ugbench evaluate --tasks all` runs)."""
    from ugbench.tasks import registry

    return {m.name: _from_meta(m) for m in registry.tasks_for_data(ug.task_names())}  # type: ignore[attr-defined]


def default_declaration_path(leaderboard: str | Path) -> Path:
    """leaderboards/ugbench.json -> leaderboards/ugbench.benchmark.json (the convention `submit` relies on)."""
    lb = Path(leaderboard)
    return lb.with_name(lb.stem + DECLARATION_SUFFIX)


def load_benchmark(path: str | Path) -> BenchmarkSpec:
    """Parse and validate a benchmark declaration; any defect is a UserError naming the file and the fix."""
    return load_json_model(
        path, BenchmarkSpec, what="benchmark declaration",
        missing=f"write one with `ugbench leaderboard declare --data UGDATA_DIR --benchmark {Path(path)}` or pass "
                "--benchmark FILE",
        fix="restore it from git", schema_error="is invalid at {loc}: {msg}",
    )


def check_against_registry(spec: BenchmarkSpec, registry: dict[str, RegistryTask] | None = None) -> list[str]:
    """Problems between the declaration and the harness's current tasks (empty when none or no registry)."""
    reg = registry_tasks() if registry is None else registry
    if reg is None:
        return []
    problems = []
    for t in spec.tasks:
        cur = reg.get(t.name)
        if cur is None:
            problems.append(
                f"benchmark {spec.name} {spec.version} declares task '{t.name}', which ugbench no longer has; "
                "declare a new benchmark version"
            )
            continue
        if cur.version != t.version:
            problems.append(
                f"task '{t.name}' is version {cur.version} in ugbench but benchmark {spec.name} {spec.version} "
                f"declares {t.version}; declare a new benchmark version with `ugbench leaderboard declare`"
            )
        if cur.main_score != t.main_score:
            problems.append(
                f"task '{t.name}' ranks on '{cur.main_score}' in ugbench but the benchmark declares "
                f"'{t.main_score}'; declare a new benchmark version"
            )
    return problems


def declare(
    *,
    name: str,
    version: str,
    dataset_name: str,
    fingerprint: str | None,
    tasks: list[RegistryTask],
    description: str = "",
    build: str = "",
) -> BenchmarkSpec:
    """A declaration ranking `tasks` on one dataset, families in first-seen order.

    `fingerprint=None` writes an unpinned declaration, which accepts no submission until
    `ugbench leaderboard declare --data DIR` pins it.
    """
    if not tasks:
        raise UserError("no tasks to declare; pass --tasks or build the data with its tasks first")
    families: list[str] = []
    for t in tasks:
        if t.family not in families:
            families.append(t.family)
    try:
        return BenchmarkSpec(
            name=name,
            version=version,
            description=description,
            families=families,
            datasets={dataset_name: DeclaredDataset(fingerprint=fingerprint, build=build)},
            tasks=[
                DeclaredTask(name=t.name, version=t.version, family=t.family, main_score=t.main_score,
                             split=t.split, dataset=dataset_name)
                for t in tasks
            ],
        )
    except ValidationError as e:
        raise UserError(f"cannot declare benchmark {name} {version}: {e.errors()[0]['msg']}") from e


def write_benchmark(spec: BenchmarkSpec, path: str | Path, *, overwrite: bool = False) -> None:
    """Write a declaration; refuse to change an existing one of the same version (bump the version)."""
    p = Path(path)
    if p.is_file() and not overwrite:
        try:
            old = BenchmarkSpec.model_validate_json(p.read_text(encoding="utf-8"))
        except (ValidationError, UnicodeDecodeError):
            old = None
        if old is not None and old.version == spec.version and old != spec:
            raise UserError(
                f"{p} already declares {old.name} {old.version} differently; pass a new --version "
                "(entries keep the version they were ranked under) or --overwrite"
            )
    write_public_text(p, spec.model_dump_json(indent=2) + "\n")
