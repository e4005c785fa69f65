"""Faults lose nothing: `kill -9` in the middle of `ugdata build`, `ugbench evaluate`, `ugbench search build`,
`ugbench submit` and `uge train` leaves no output that later looks valid, and rerunning the same command gives
exactly the results of an uninterrupted run, with no temporary left behind.

Each test starts the real CLI as a subprocess and kills it with SIGKILL at a named moment in the middle of its
work (UG_TEST_KILL_AT, ugcore/faults.py: the process kills itself there, so the moment is exact, not
a race), then checks (a) what a reader finds at the output path, (b) that the rerun equals an uninterrupted
run, and (c) that no hidden temporary remains. A last test checks that the clean-up removes only what this
tool wrote, and puts back an old output that a kill caught mid-swap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
for _sub in ("ugdata", "uge", "leaderboard"):  # the small-data helpers of those suites
    if str(ROOT / "tests" / _sub) not in sys.path:
        sys.path.append(str(ROOT / "tests" / _sub))

MAINS = {"ugdata": "ugdata.cli", "ugbench": "ugbench.cli", "uge": "uge.cli"}


def cli(tool: str, *args, kill_at: str | None = None, pythonpath: str | None = None, timeout: int = 300):
    """Run `tool args...` as a user would (a fresh process), optionally killed at `kill_at`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "UG_DEBUG": ""}
    env.pop("UG_TEST_KILL_AT", None)
    if kill_at:
        env["UG_TEST_KILL_AT"] = kill_at
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    code = f"import sys; sys.argv[0] = {tool!r}; from {MAINS[tool]} import main; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_killed(proc) -> None:
    assert proc.returncode == -signal.SIGKILL, (
        f"expected death by SIGKILL at the kill point, got exit {proc.returncode}:\n{proc.stdout[-3000:]}\n"
        f"{proc.stderr[-3000:]}")


def assert_ok(proc) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def temps(folder: Path) -> list[str]:
    """Hidden temporaries (files or folders) in `folder`."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def without(obj, keys: set[str]):
    """`obj` with every key in `keys` removed, at any depth (timestamps, timings)."""
    if isinstance(obj, dict):
        return {k: without(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [without(v, keys) for v in obj]
    return obj


# ------------------------------------------------------------------------------------------- ugdata build
def test_kill9_ugdata_build(tmp_path):
    from ugdata_town import write_town

    import ugdata
    from ugcore.atomic import TMP_MARKER
    from ugdata.build import build_ugdata
    from ugdata.format import NotUGDataError

    osm = write_town(tmp_path, compression="bz2")
    # floats as the CLI passes them: the card prints "100.0 m" for a float, "100 m" for an int
    ref = ugdata.load(build_ugdata(tmp_path / "ref" / "out", osm=[str(osm)], synth=40, synth_size=32, block_m=100.0,
                                   buffer_m=20.0, seed=3, graphml=False)).fingerprint
    where = tmp_path / "w"
    where.mkdir()
    out = where / "out"
    args = ["build", "--out", out, "--osm", osm, "--synth", 40, "--synth-size", 32, "--block-m", 100,
            "--buffer-m", 20, "--seed", 3, "--no-graphml"]

    # killed when every file is written in the temporary folder, before the rename that publishes it
    assert_killed(cli("ugdata", *args, kill_at="dir:out"))
    assert not out.exists()
    with pytest.raises(NotUGDataError):
        ugdata.load(out)
    left = temps(where)
    assert len(left) == 1 and (where / left[0] / TMP_MARKER).is_file()
    assert du(where / left[0]) > 100_000  # the kill fell after the data was written, not before
    user_tmp = where / ".out.mine.tmp"  # a user's folder of the same name pattern but no marker: never touched
    user_tmp.mkdir()
    (user_tmp / "keep.txt").write_text("mine")

    assert_ok(cli("ugdata", *args))  # the same command again, no --overwrite needed: nothing was published
    assert ugdata.load(out).fingerprint == ref
    assert temps(where) == [".out.mine.tmp"] and (user_tmp / "keep.txt").read_text() == "mine"


# ----------------------------------------------------------------------------------------- ugbench evaluate
EVAL_TASKS = ["geoloc_rank", "retrieval_caption2image", "perception_osm"]
VOLATILE = {"created_at", "timings_s", "hardware", "chunks_encoded_by_process", "cache_dir", "git_commit"}


@pytest.mark.parametrize("kill_at", [
    f"write:{EVAL_TASKS[1]}.json",  # the second task's results are in their temporary file, not yet renamed
    "write:chunk_000000.npy#2",  # mid-encoding of the first task: its second embedding-cache chunk
])
def test_kill9_ugbench_evaluate(tmp_path, kill_at):
    from ugbench.evaluation import evaluate
    from ugbench.testing import build_mock_ugdata

    data = build_mock_ugdata(tmp_path / "data")
    evaluate("random", data, tasks=",".join(EVAL_TASKS), output=tmp_path / "ref", cache_dir=tmp_path / "ref-cache",
             show_progress=False)
    ref_dir = tmp_path / "ref" / "random"
    out = tmp_path / "out"
    args = ["evaluate", "--model", "random", "--data", data, "--tasks", ",".join(EVAL_TASKS), "--output", out,
            "--cache-dir", tmp_path / "cache", "--quiet"]

    assert_killed(cli("ugbench", *args, kill_at=kill_at))
    got = out / "random"
    if kill_at.startswith("write:chunk"):
        assert not list(out.rglob("*.json"))  # no results at all
        assert len(list((tmp_path / "cache").rglob(".chunk_000000.npy.*.tmp"))) == 1
    else:
        assert sorted(p.name for p in got.glob("*.json")) == [f"{EVAL_TASKS[0]}.json"]  # no summary, no half task
        first = json.loads((got / f"{EVAL_TASKS[0]}.json").read_text())  # what is there is whole and right
        assert first["scores"] == json.loads((ref_dir / f"{EVAL_TASKS[0]}.json").read_text())["scores"]
        assert len(temps(got)) == 1

    assert_ok(cli("ugbench", *args))
    for task in EVAL_TASKS:
        a = json.loads((ref_dir / f"{task}.json").read_text())
        b = json.loads((got / f"{task}.json").read_text())
        assert b["scores"] == a["scores"], task
        assert without(b, VOLATILE) == without(a, VOLATILE), task  # all but timestamps, timings, the cache path
    assert json.loads((got / "summary.json").read_text()) == json.loads((ref_dir / "summary.json").read_text())
    assert temps(got) == []
    assert not list((tmp_path / "cache").rglob("*.tmp"))


# -------------------------------------------------------------------------------------- ugbench search build
def _index_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _same_index(a: Path, b: Path) -> None:
    from ugbench.search.index import GeoIndex

    xa, xb = _index_arrays(a), _index_arrays(b)
    assert xa.keys() == xb.keys()
    for k in xa:
        assert np.array_equal(xa[k], xb[k]), k
    ia, ib = GeoIndex.load(a), GeoIndex.load(b)
    rng = np.random.default_rng(1)
    for _ in range(5):
        q_xy, q = (24.93 + 0.01 * rng.random(), 60.16 + 0.01 * rng.random()), rng.normal(size=ia.dim)
        ra, rb = ia.search(q_xy, q, k=7, mu=0.4), ib.search(q_xy, q, k=7, mu=0.4)
        assert ra.object_ids == rb.object_ids and np.array_equal(ra.scores, rb.scores)


def test_kill9_ugbench_search_build(tmp_path):
    import pandas as pd

    from ugbench.search.index import GeoIndex
    from ugcore.errors import UserError

    rng = np.random.default_rng(0)
    n = 400
    np.save(tmp_path / "v.npy", rng.normal(size=(n, 16)).astype(np.float32))
    pd.DataFrame({"id": [f"o{i}" for i in range(n)], "lon": 24.93 + 0.01 * rng.random(n),
                  "lat": 60.16 + 0.01 * rng.random(n)}).to_csv(tmp_path / "c.csv", index=False)
    where = tmp_path / "w"
    where.mkdir()
    ix, ref = where / "ix", tmp_path / "ref" / "ix"

    def build(out, *extra, kill_at=None):
        return cli("ugbench", "search", "build", "--out", out, "--vectors", tmp_path / "v.npy", "--coords",
                   tmp_path / "c.csv", *extra, kill_at=kill_at)

    assert_ok(build(ref))
    # 1. killed with the index written in its temporary folder, before the rename
    assert_killed(build(ix, kill_at="dir:ix"))
    assert not ix.exists() and len(temps(where)) == 1
    with pytest.raises(UserError):
        GeoIndex.load(ix)
    assert_ok(build(ix))
    _same_index(ref, ix)
    assert temps(where) == []

    # 2. an --overwrite rebuild killed mid-swap (the old index moved aside, the new one not yet in place)
    assert_killed(build(ix, "--overwrite", kill_at="swap:ix"))
    assert not ix.exists() and len(temps(where)) == 1
    # the next build of it first puts the old index back: without --overwrite it is refused, and the old
    # index is whole again
    again = build(ix)
    assert again.returncode == 2 and "already exists" in again.stderr, again.stderr
    _same_index(ref, ix)
    assert temps(where) == []


# ---------------------------------------------------------------------------------------------- ugbench submit
def test_kill9_ugbench_submit(tmp_path):
    from lb_helpers import make_spec, random_scores, write_results

    from ugbench.leaderboard import load_leaderboard, submit
    from ugbench.leaderboard.verify import verify

    boards = {}
    for name in ("ref", "run"):
        lb = tmp_path / name / "ugbench.json"
        lb.parent.mkdir()
        spec = make_spec(lb.parent / "ugbench.benchmark.json")
        submit(write_results(tmp_path / "first", spec, "first", random_scores(1)), lb)
        boards[name] = lb
    results = write_results(tmp_path / "res", spec, "victim", random_scores(2))
    submit(results, boards["ref"])  # uninterrupted
    lb = boards["run"]
    before = lb.read_bytes()

    # killed with the new leaderboard fsynced in its temporary file, before the rename over the old one
    assert_killed(cli("ugbench", "submit", results, "--leaderboard", lb, kill_at="write:ugbench.json"))
    assert lb.read_bytes() == before
    assert verify(load_leaderboard(lb)) == [] and [e.model.name for e in load_leaderboard(lb).entries] == ["first"]
    assert len(temps(lb.parent)) == 1

    assert_ok(cli("ugbench", "submit", results, "--leaderboard", lb))
    stamps = {"submitted_at", "updated_at"}
    a = without(json.loads(boards["ref"].read_text()), stamps)
    b = without(json.loads(lb.read_text()), stamps)
    assert b == a
    assert temps(lb.parent) == []


# -------------------------------------------------------------------------------------------------- uge train
UGE_SECTIONS = {"train": {"max_steps": 5, "save_every_steps": 2, "per_device_batch_size": 3,
                          "gradient_accumulation_steps": 2, "resume_from": "latest"},
                "loss": {"learnable_temperature": True}, "optim": {"lr": 2e-3, "warmup_ratio": 0.2}}


def _uge_config(data: Path, run: Path, path: Path) -> Path:
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("uge_tests_conftest", ROOT / "tests" / "uge" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the uge suite's stand-in config (its own conftest is not importable by name)
    raw = mod.standin_config(data, run, **{k: dict(v) for k, v in UGE_SECTIONS.items()})
    path.write_text(yaml.safe_dump(raw))
    return path


def _uge(cfg: Path, kill_at: str | None = None):
    # the same command every time: train.resume_from=latest starts afresh when there is no checkpoint yet
    return cli("uge", "train", "--config", cfg, kill_at=kill_at, pythonpath=str(ROOT / "tests" / "uge"))


def _final_tensors(run: Path) -> dict:
    from safetensors.torch import load_file

    return {**load_file(str(run / "final" / "adapter" / "adapter_model.safetensors")),
            **load_file(str(run / "final" / "uge_heads.safetensors"))}


def _records(run: Path) -> list[dict]:
    return [without(json.loads(x), {"step_time_s"}) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uge_reference(tmp_path_factory):
    from fakedata import build_fake_ugdata

    base = tmp_path_factory.mktemp("uge-ref")
    data = build_fake_ugdata(base / "data", n_views=48, seed=0)
    run = base / "ref" / "run"
    run.parent.mkdir()
    assert_ok(_uge(_uge_config(data, run, base / "ref.yaml")))
    return data, run


@pytest.mark.parametrize("kill_at, left", [
    ("dir:checkpoint-4", ["checkpoint-2"]),  # mid-save of a checkpoint: resume from the one before
    ("dir:final", ["checkpoint-4", "checkpoint-5"]),  # all steps done, final/ not yet in place
])
def test_kill9_uge_train(uge_reference, tmp_path, kill_at, left):
    import torch

    from uge.checkpoint import list_checkpoints

    data, ref = uge_reference
    run = tmp_path / "run"  # the same folder name as the reference: the model's name is the run folder's
    cfg = _uge_config(data, run, tmp_path / "cfg.yaml")

    assert_killed(_uge(cfg, kill_at=kill_at))
    assert not (run / "final").exists()  # nothing announces a trained model
    assert [p.name for p in list_checkpoints(run)] == left  # only whole checkpoints are resumable
    assert len(temps(run)) == 1

    assert_ok(_uge(cfg))
    a, b = _final_tensors(ref), _final_tensors(run)
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (run / "final" / "ugbench_model.json").read_text() == (ref / "final" / "ugbench_model.json").read_text()
    ra, rb = _records(ref), _records(run)
    assert [r["step"] for r in rb] == [1, 2, 3, 4, 5]  # each step once, though some ran twice
    assert rb == ra
    assert temps(run) == []


# ------------------------------------------------------------------------------------ what clean-up may touch
def test_stale_temp_cleanup_removes_only_what_a_dead_writer_of_this_tool_left(tmp_path):
    from ugcore.atomic import TMP_MARKER, _host, _proc_start, atomic_dir, remove_stale_temps

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    me = os.getpid()

    def box(name: str, *, pid: int, target: str = "out", host: str | None = None, marker: bool = True) -> Path:
        p = tmp_path / name
        (p / target).mkdir(parents=True)
        (p / target / "f.txt").write_text(name)
        if marker:
            (p / TMP_MARKER).write_text(json.dumps({"kind": "ugcore.atomic", "for": target, "pid": pid,
                                                    "start": _proc_start(pid), "host": host or _host()}))
        return p

    stale = box(".out.dead.tmp", pid=dead)
    live = box(".out.live.tmp", pid=me)
    foreign = box(".out.other-host.tmp", pid=dead, host="0" * 8)
    unmarked = box(".out.user.tmp", pid=dead, marker=False)
    other_target = box(".out.x.tmp", pid=dead, target="outx")
    half = tmp_path / ".out.half.tmp"  # marker torn by a kill: not provably ours
    half.mkdir()
    (half / TMP_MARKER).write_text('{"kind": "ugdata.comm')
    files = {n: tmp_path / n for n in (f".res.json.{dead}@{_host()}.abcd1234.tmp",
                                       f".res.json.{me}@{_host()}.abcd1234.tmp",
                                       f".res.json.{dead}@00000000.abcd1234.tmp", ".res.json.abcd1234.tmp")}
    for f in files.values():
        f.write_text("x")

    assert remove_stale_temps(tmp_path, "out") == [stale]
    for p in (live, foreign, unmarked, other_target, half):
        assert p.is_dir()
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted([".out.x.tmp", f".res.json.{dead}@{_host()}.abcd1234.tmp"])
    assert all(f.exists() for n, f in files.items() if not n.startswith(f".res.json.{dead}@{_host()}"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "outx").exists()

    # a writer killed mid-swap: its old output is put back, then the box removed
    box(".put.back.tmp", pid=dead, target="put")
    (tmp_path / ".put.back.tmp" / "put").rename(tmp_path / ".put.back.tmp" / "put.old")
    marker = json.loads((tmp_path / ".put.back.tmp" / TMP_MARKER).read_text())
    (tmp_path / ".put.back.tmp" / TMP_MARKER).write_text(json.dumps({**marker, "for": "put"}))
    with atomic_dir(tmp_path / "put", overwrite=True) as tmp:
        assert (tmp_path / "put" / "f.txt").read_text() == ".put.back.tmp"  # back before the new one is written
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "put").iterdir()) == ["new.txt"]
    assert not (tmp_path / ".put.back.tmp").exists()
