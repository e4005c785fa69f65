"""Fixture builders: a benchmark declared from the real task registry, and results files written through
the TaskResult model (the leaderboard's input contract), with seeded random scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ugbench.leaderboard.benchmark import declare, registry_tasks, write_benchmark
from ugbench.leaderboard.models import BenchmarkSpec
from ugbench.results_schema import Provenance, TaskInfo, TaskResult
from ugcore.protocol import ModelMeta


def _pick_tasks() -> tuple[str, str, str, str]:
    """Real registered tasks spanning three families, two in retrieval (so family means differ from task
    means): chosen from the registry, so the fixtures follow its names and versions."""
    reg = registry_tasks()
    assert reg is not None, "ugbench.tasks.registry must be importable"
    by_family: dict[str, list[str]] = {}
    for name in sorted(reg):
        by_family.setdefault(reg[name].family, []).append(name)
    ret = by_family["retrieval"]
    return by_family["geolocation"][0], ret[0], ret[1], by_family["perception"][0]


GEO, RET_A, RET_B, PERC = _pick_tasks()
TASKS = (GEO, RET_A, RET_B, PERC)
FINGERPRINT = "sha256:" + "ab" * 32


def make_spec(path: Path | None = None, *, version: str = "1.0", fingerprint: str | None = FINGERPRINT,
              tasks: tuple[str, ...] = TASKS) -> BenchmarkSpec:
    reg = registry_tasks()
    assert reg is not None, "ugbench.tasks.registry must be importable"
    spec = declare(name="ugbench", version=version, dataset_name="helsinki", fingerprint=fingerprint or "x",
                   tasks=[reg[t] for t in tasks], build="ugdata build --out DIR")
    if fingerprint is None:
        spec.datasets["helsinki"].fingerprint = None
    if path is not None:
        write_benchmark(spec, path, overwrite=True)
    return spec


def random_scores(seed: int, tasks: tuple[str, ...] = TASKS) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {t: float(rng.uniform(0.05, 0.95)) for t in tasks}


def result_for(spec: BenchmarkSpec, task: str, value: float, *, model: str, revision: str = "r1",
               zero_shot: bool = True, fingerprint: str | None = None, training_datasets=None,
               ci: float | None = None) -> TaskResult:
    """ci: also write a 95% interval value +- ci (clipped to [0, 1]), as results schema 1.1 does."""
    t = spec.task(task)
    assert t is not None
    meta = ModelMeta(name=model, revision=revision, n_parameters=1234, embed_dim=8, adapter="test",
                     training_datasets=training_datasets or {})
    scores: dict = {"main_score": value, t.main_score: value, "n_queries": 40}
    if ci is not None:
        scores["ci95"] = {t.main_score: [max(0.0, value - ci), min(1.0, value + ci)]}
    return TaskResult(
        task=TaskInfo(name=task, version=t.version, main_score=t.main_score, family=t.family),
        model={"name": model, "revision": revision, "metadata": meta.to_dict()},
        scores={t.split: scores},
        provenance=Provenance(package_version="0.1.0", git_commit="deadbeef", task_version=t.version,
                              dataset_fingerprint=fingerprint or spec.datasets[t.dataset].fingerprint or "none",
                              dataset_path="/data/helsinki", seed=0, created_at="2026-11-21T00:00:00+00:00",
                              zero_shot=zero_shot, data_verified=True),
    )


def write_results(root: Path, spec: BenchmarkSpec, model: str, scores: dict[str, float], **kw) -> Path:
    """Write OUTPUT/<model-slug>/<task>.json for every task in `scores`; return the model folder."""
    d = root / model.replace("/", "__").replace("<", "_").replace(">", "_")
    d.mkdir(parents=True, exist_ok=True)
    for task, value in scores.items():
        (d / f"{task}.json").write_text(result_for(spec, task, value, model=model, **kw).model_dump_json(indent=2))
    return d


def edit_json(path: Path, fn) -> None:
    raw = json.loads(path.read_text())
    fn(raw)
    path.write_text(json.dumps(raw))
