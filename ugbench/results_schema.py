"""Schema of a results file: one JSON per (model, task) under OUTPUT/<model-slug>/<task>.json.

Shaped after lm-evaluation-harness (results embed the resolved config, versions and git commit) and
MTEB (scores per split with a main_score). The leaderboard validates submissions against this model.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# 1.1 (compatible with 1.0): scores[split]["ci95"] = {metric: [lo, hi]}, 95% seeded bootstrap intervals over
# queries (ugbench.stats); per-target / per-qtype breakdowns carry their own "ci95". 1.0 files stay valid.
RESULTS_SCHEMA_VERSION = "1.1"


class TaskInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    main_score: str
    family: str
    modalities: dict[str, list[str]] = Field(default_factory=dict)  # side -> modalities
    description: str = ""


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    revision: str = "none"
    metadata: dict[str, Any] = Field(default_factory=dict)  # ModelMeta.to_dict()


class Provenance(BaseModel):
    model_config = ConfigDict(extra="allow")
    package: str = "urban-graph-embeddings"
    package_version: str
    git_commit: str | None = None
    dataset_fingerprint: str
    dataset_path: str | None = None
    task_version: str
    seed: int
    created_at: str  # ISO-8601 UTC
    hardware: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)  # library -> version
    timings_s: dict[str, float] = Field(default_factory=dict)  # stage -> seconds
    zero_shot: bool = True
    # True when `ugbench evaluate` recomputed the data's content fingerprint and it matched the manifest's (results
    # without it, e.g. from before ugbench checked, are refused by `ugbench submit`)
    data_verified: bool = False


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: str = RESULTS_SCHEMA_VERSION
    task: TaskInfo
    model: ModelInfo
    scores: dict[str, dict[str, Any]]  # split -> {metric: value, ..., "main_score": value}
    instructions: dict[str, str | None] = Field(default_factory=dict)  # side -> instruction used
    config: dict[str, Any] = Field(default_factory=dict)  # the resolved evaluation config
    provenance: Provenance

    @field_validator("scores")
    @classmethod
    def _finite_main_scores(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for split, metrics in v.items():
            if "main_score" not in metrics:
                raise ValueError(f"scores['{split}'] has no main_score")
            for name, value in metrics.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"scores['{split}']['{name}'] is {value}; scores must be finite")
            ci = metrics.get("ci95", {})
            if not isinstance(ci, dict):
                raise ValueError(f"scores['{split}']['ci95'] must map metric -> [lo, hi]")
            for name, lohi in ci.items():
                ok = (isinstance(lohi, (list, tuple)) and len(lohi) == 2
                      and all(isinstance(x, (int, float)) and math.isfinite(x) for x in lohi) and lohi[0] <= lohi[1])
                if not ok:
                    raise ValueError(f"scores['{split}']['ci95']['{name}'] is {lohi!r}; expected finite [lo, hi], lo <= hi")
        return v


def read_model_results(model_dir, *, strict: bool = True) -> dict[str, tuple[Any, TaskResult]]:
    """task name -> (path, TaskResult) for the results files in one model's folder (summaries skipped).

    strict (`ugbench health`): an unreadable *.json or two files of one task is a UserError naming the file;
    otherwise (`ugbench compare`) files that are not results are skipped, as the leaderboard validator reports them.
    """
    from pathlib import Path

    from ugcore.errors import UserError

    from .leaderboard.validate import _is_summary

    out: dict[str, tuple[Any, TaskResult]] = {}
    for p in sorted(Path(model_dir).glob("*.json")):
        if _is_summary(p.name):
            continue
        try:
            r = TaskResult.model_validate_json(p.read_text(encoding="utf-8"))
        except Exception as e:  # noqa: BLE001 - pydantic / JSON / decode errors: all mean "not a results file"
            if not strict:
                continue
            raise UserError(f"{p} is not a readable results file ({str(e).splitlines()[0]}); re-run "
                            "`ugbench evaluate` for it or move it out of the folder") from None
        if strict and r.task.name in out:
            raise UserError(f"{p} and {out[r.task.name][0]} both hold task '{r.task.name}'; keep one")
        out[r.task.name] = (p, r)
    return out
