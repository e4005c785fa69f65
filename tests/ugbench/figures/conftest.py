"""Fixtures for the figure tests: one real small UGData build (session), a leaderboard made through the
leaderboard package's own API, and UGE-style run directories with a metrics.jsonl per stage."""

import sys
from pathlib import Path

import pytest

# As in tests/ugbench/leaderboard/conftest.py: make `import ugbench` resolve to the real package, not tests/ugbench.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from fig_helpers import MODELS, write_run  # noqa: E402 (needs the path fix above)


@pytest.fixture(scope="session")
def ug_dir(tmp_path_factory) -> Path:
    from ugdata.testing import small_build

    return small_build(tmp_path_factory.mktemp("figures") / "helsinki", n_views=120, seed=0)


@pytest.fixture(scope="session")
def grid(ug_dir, tmp_path_factory):
    """The default retrieval grid (random model, 4 queries, top 5); test_map_and_cli checks the CLI's equals it."""
    from ugbench.figures import retrieval_grid

    return retrieval_grid(ug_dir, "random", n_queries=4, k=5, out=tmp_path_factory.mktemp("grid") / "grid.png",
                          seed=0)


def _results(spec, task: str, value: float, model: str):
    from ugbench.results_schema import Provenance, TaskInfo, TaskResult
    from ugcore.protocol import ModelMeta

    t = spec.task(task)
    meta = ModelMeta(name=model, revision="r1", n_parameters=10, embed_dim=8, adapter="test")
    return TaskResult(
        task=TaskInfo(name=task, version=t.version, main_score=t.main_score, family=t.family),
        model={"name": model, "revision": "r1", "metadata": meta.to_dict()},
        scores={t.split: {"main_score": value, t.main_score: value, "n_queries": 20}},
        provenance=Provenance(package_version="0.1.0", git_commit=None, task_version=t.version,
                              dataset_fingerprint=spec.datasets[t.dataset].fingerprint, dataset_path="/data",
                              seed=0, created_at="2026-11-21T00:00:00+00:00", zero_shot=True, data_verified=True),
    )


@pytest.fixture(scope="session")
def leaderboard(tmp_path_factory) -> Path:
    """A leaderboard over one task of each of four families; gamma is partial (misses the last family)."""
    import numpy as np

    from ugbench.leaderboard import declare, registry_tasks, submit, write_benchmark

    root = tmp_path_factory.mktemp("lb")
    reg = registry_tasks()
    first: dict[str, str] = {}
    for name in sorted(reg):
        if not name.endswith(("_graph", "_global")):
            first.setdefault(reg[name].family, name)
    fams = [f for f in ("geolocation", "retrieval", "grounding", "perception") if f in first]
    assert len(fams) == 4, f"registry families changed: {sorted(first)}"
    spec = declare(name="ugbench", version="1.0", dataset_name="helsinki", fingerprint="sha256:" + "cd" * 32,
                   tasks=[reg[first[f]] for f in fams], build="ugdata build --out DIR")
    write_benchmark(spec, root / "ugbench.benchmark.json", overwrite=True)
    rng = np.random.default_rng(3)
    for m in MODELS:
        d = root / "results" / m
        d.mkdir(parents=True)
        tasks = [first[f] for f in fams][: 3 if m == "gamma-partial" else 4]
        for t in tasks:
            (d / f"{t}.json").write_text(_results(spec, t, float(rng.uniform(0.1, 0.9)), m).model_dump_json())
    submit(root / "results", root / "ugbench.json", partial=True)
    return root / "ugbench.json"


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> list[Path]:
    import numpy as np

    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    steps = np.arange(1, 41)
    s1 = (2.5 * np.exp(-steps / 12) + 0.4 + 0.15 * rng.standard_normal(40)).tolist()
    s2 = (1.2 * np.exp(-steps / 20) + 0.3 + 0.10 * rng.standard_normal(40)).tolist()
    return [write_run(root / "stage1", 1, s1), write_run(root / "stage2", 2, s2)]
