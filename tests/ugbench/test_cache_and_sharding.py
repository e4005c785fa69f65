"""Embedding cache (resume after interruption, --overwrite) and 2-process sharding with accelerate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ugbench.cache import EmbeddingCache
from ugbench.encoding import Encoder, ItemTable
from ugbench.models.random_baseline import RandomEncoder
from ugdata.format import load


class Flaky(RandomEncoder):
    """Random embeddings; raises KeyboardInterrupt on call number `fail_at` (a simulated interruption)."""

    def __init__(self, fail_at=None):
        super().__init__(dim=8)
        self.calls = 0
        self.encoded = 0
        self.fail_at = fail_at

    def encode(self, items, **kw):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        self.encoded += len(items)
        return super().encode(items, **kw)


def _table(n=40):
    return ItemTable(ids=[f"x{i}" for i in range(n)], texts=[f"t{i}" for i in range(n)], image_ids=[None] * n)


def test_interrupted_run_resumes_without_reencoding(mock_data, tmp_path):
    ud = load(mock_data)
    kw = dict(task="t", side="query", instruction="find it", with_graph=False)
    cache = EmbeddingCache(tmp_path / "cache", chunk_size=8)
    first = Flaky(fail_at=4)
    with pytest.raises(KeyboardInterrupt):
        Encoder(first, ud, cache=cache, batch_size=4, show_progress=False).encode(_table(), **kw)
    chunks = sorted(p.name for p in (tmp_path / "cache").rglob("chunk_*.npy"))
    assert chunks == ["chunk_000000.npy"]  # call 1+2 = chunk 0; chunk 1 died half-way and left nothing
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    second = Flaky()
    got = Encoder(second, ud, cache=cache, batch_size=4, show_progress=False).encode(_table(), **kw)
    assert second.encoded == 32  # only the 4 missing chunks
    want = RandomEncoder(dim=8).encode(
        [__import__("ugbench").EncodeItem(text=f"t{i}", id=f"x{i}") for i in range(40)], task_name="t", side="query")
    np.testing.assert_array_equal(got, want)
    third = Flaky()
    Encoder(third, ud, cache=cache, batch_size=4, show_progress=False).encode(_table(), **kw)
    assert third.encoded == 0  # all cached
    fourth = Flaky()
    Encoder(fourth, ud, cache=EmbeddingCache(tmp_path / "cache", chunk_size=8, overwrite=True), batch_size=4,
            show_progress=False).encode(_table(), **kw)
    assert fourth.encoded == 40  # --overwrite re-encodes
    # another instruction is another cache entry
    fifth = Flaky()
    Encoder(fifth, ud, cache=cache, batch_size=4, show_progress=False).encode(_table(), **{**kw, "instruction": "x"})
    assert fifth.encoded == 40


def test_two_processes_equal_one(mock_data, tmp_path):
    """`accelerate launch` with 2 CPU processes shards encoding (chunk size 4) and writes the same scores."""
    if shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("the accelerate launcher is not installed next to this Python")
    tasks = "retrieval_image2image,retrieval_caption2image_global,perception_osm"
    args = ["-m", "ugbench", "evaluate", "--model", "random", "--data", str(mock_data), "--tasks", tasks,
            "--quiet", "--chunk-size", "4", "--batch-size", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1", "UG_DEBUG": "1"}
    launcher = str(Path(sys.executable).parent / "accelerate")
    multi = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", *args, "--output", str(tmp_path / "multi"), "--cache-dir", str(tmp_path / "c2")],
        env=env, capture_output=True, text=True, timeout=300)
    assert multi.returncode == 0, multi.stderr[-3000:]
    single = subprocess.run([sys.executable, *args, "--output", str(tmp_path / "single"), "--cache-dir",
                             str(tmp_path / "c1")], env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    for task in tasks.split(","):
        a = json.loads((tmp_path / "multi" / "random" / f"{task}.json").read_text())
        b = json.loads((tmp_path / "single" / "random" / f"{task}.json").read_text())
        assert a["config"]["num_processes"] == 2 and b["config"]["num_processes"] == 1
        assert a["scores"] == b["scores"]
        assert set(a["config"]["chunks_encoded_by_process"]) == {"0", "1"}  # both ranks encoded a share
    # both processes encoded: chunks of each side were written by the 2 ranks into one cache
    assert len(list((tmp_path / "c2").rglob("chunk_*.npy"))) == len(list((tmp_path / "c1").rglob("chunk_*.npy")))
