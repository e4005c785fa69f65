"""The leaderboard file and the benchmark declaration, as pydantic models.

The published JSON Schema (leaderboards/leaderboard.schema.json) is generated from `Leaderboard`
(`ugbench leaderboard schema`), so the file format and its documentation cannot drift apart.

A leaderboard embeds the declaration of the benchmark it ranks (task set, versions, main scores,
families, dataset fingerprints): the file is self-describing, renders without the code that made it,
and keeps entries of an older benchmark version interpretable after the declaration moves on.
"""

from __future__ import annotations

import ntpath
import posixpath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .metric_bounds import bounds_for

LEADERBOARD_SCHEMA_VERSION = "1.0"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def public_name(path: str) -> str:
    """A path as published: an absolute path (POSIX or Windows) keeps only its last component.

    A leaderboard is read on other machines, where the submitter's folders (a temporary results folder, a
    home directory) mean nothing and would leak local layout; the folder's name is what a reader can match
    against the results they download. Relative paths and plain names are kept as they are.
    """
    p = str(path)
    if posixpath.isabs(p) or ntpath.isabs(p):
        tail = p.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        return tail or p
    return p


class DeclaredDataset(_Strict):
    """A dataset the benchmark runs on; results must carry exactly this fingerprint."""

    fingerprint: str | None = Field(
        description="ugdata manifest fingerprint; null = not pinned yet (submissions are refused until it is)"
    )
    description: str = ""
    build: str = Field("", description="the command that rebuilds this dataset deterministically")


class DeclaredTask(_Strict):
    name: str
    version: str
    family: str
    main_score: str = Field(description="the metric ranked on; it must be bounded above by 1")
    split: str = Field("test", description="the split whose main_score is ranked")
    dataset: str = Field(description="key into BenchmarkSpec.datasets")


class BenchmarkSpec(_Strict):
    """What a complete submission is: the benchmark's declared tasks, their versions and their data."""

    name: str
    version: str
    description: str = ""
    families: list[str] = Field(description="task families in display order")
    datasets: dict[str, DeclaredDataset]
    tasks: list[DeclaredTask]

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkSpec:
        problems = []
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            problems.append(f"task names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        for t in self.tasks:
            if t.family not in self.families:
                problems.append(f"task '{t.name}' has family '{t.family}', not among families {self.families}")
            if t.dataset not in self.datasets:
                problems.append(f"task '{t.name}' names dataset '{t.dataset}', not among {sorted(self.datasets)}")
            if not bounds_for(t.main_score).aggregatable:
                problems.append(f"task '{t.name}' main score '{t.main_score}' is unbounded and cannot be averaged")
        if len(set(self.families)) != len(self.families):
            problems.append("families repeat")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def task(self, name: str) -> DeclaredTask | None:
        return next((t for t in self.tasks if t.name == name), None)


class ModelRef(_Strict):
    """The submitted model's identity and the ModelMeta fields the page shows."""

    name: str
    revision: str = "none"
    n_parameters: int | None = None
    embed_dim: int | None = None
    modalities: list[str] = Field(default_factory=list)
    adapter: str | None = None
    reference: str | None = None
    license: str | None = None
    training_datasets: dict[str, list[str]] = Field(
        default_factory=dict, description="dataset fingerprint or name -> splits seen (no local paths)")

    @field_validator("training_datasets")
    @classmethod
    def _no_local_paths(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, splits in v.items():
            out.setdefault(public_name(k), [])
            out[public_name(k)] = sorted(set(out[public_name(k)]) | set(splits))
        return out


class TaskScore(_Strict):
    version: str
    family: str
    metric: str = Field(description="name of the main score")
    split: str
    value: float
    ci95: list[float] | None = Field(
        None, description="95% bootstrap interval [lo, hi] of value over the split's queries (results schema 1.1); "
        "null for results without one (1.0)")
    zero_shot: bool
    dataset_fingerprint: str

    @field_validator("ci95")
    @classmethod
    def _interval(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) != 2 or not v[0] <= v[1]):
            raise ValueError(f"ci95 must be [lo, hi] with lo <= hi, got {v}")
        return v


class Aggregates(_Strict):
    """Recomputed at submission from the per-task main scores; submitted aggregates are never read.

    A mean is null when any task it covers is missing (partial submissions), as on MTEB: a mean over
    a different subset of tasks is not comparable with the others.
    """

    mean_over_tasks: float | None
    mean_over_families: float | None
    per_family: dict[str, float | None]
    n_tasks: int
    n_declared_tasks: int


class SourceFile(_Strict):
    path: str = Field(description="relative to the submitted results directory")
    sha256: str
    bytes: int


class Source(_Strict):
    path: str = Field(description="the name of the results directory as submitted (no local path)")
    files: list[SourceFile]
    results_git_commits: list[str | None] = Field(description="provenance.git_commit of the results files")
    package_versions: list[str]
    ignored_files: list[str] = Field(default_factory=list, description="files present but not used, with why")

    @field_validator("path")
    @classmethod
    def _no_local_path(cls, v: str) -> str:
        return public_name(v)


class DataRef(_Strict):
    fingerprints: dict[str, str] = Field(description="dataset name -> fingerprint the results were computed on")
    dataset_paths: list[str] = Field(default_factory=list,
                                     description="names of the dataset folders (provenance.dataset_path), no local paths")

    @field_validator("dataset_paths")
    @classmethod
    def _no_local_paths(cls, v: list[str]) -> list[str]:
        return sorted({public_name(p) for p in v})


class Entry(_Strict):
    model: ModelRef
    benchmark: str
    benchmark_version: str
    partial: bool
    missing_tasks: list[str]
    zero_shot: bool = Field(description="true when every submitted task was zero-shot for this model")
    scores: dict[str, TaskScore]
    aggregates: Aggregates
    data: DataRef
    submitted_at: str
    replaced: list[str] = Field(default_factory=list, description="submitted_at of the entries this one replaced")
    source: Source

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model.name, self.model.revision, self.benchmark_version)


class Leaderboard(_Strict):
    schema_version: Literal["1.0"] = LEADERBOARD_SCHEMA_VERSION
    benchmark: BenchmarkSpec
    entries: list[Entry] = Field(default_factory=list)
    updated_at: str | None = None

    def current_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.benchmark_version == self.benchmark.version]


def json_schema() -> dict[str, Any]:
    schema = Leaderboard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
