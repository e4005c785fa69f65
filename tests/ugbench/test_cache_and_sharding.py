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
    """`accelerate launch` with 2 CPU processes shards encoding (chunk size 4) and writes the same scores, from
    an empty cache, with the ranks' order forced both ways: UG_TEST_LOCK_DELAY holds one rank back before
    each chunk plan. Before the main process decided the plan and broadcast it, the late rank saw chunks the
    other had just written, the two shares disagreed and a chunk was never gathered (`KeyError: 2` in
    ugbench/encoding.py, both orders, measured on the old code)."""
    if shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("the accelerate launcher is not installed next to this Python")
    tasks = "retrieval_image2image,retrieval_caption2image_global,perception_osm"
    args = ["-m", "ugbench", "evaluate", "--model", "random", "--data", str(mock_data), "--tasks", tasks,
            "--quiet", "--chunk-size", "4", "--batch-size", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1", "UG_DEBUG": "1"}
    launcher = str(Path(sys.executable).parent / "accelerate")
    single = subprocess.run([sys.executable, *args, "--output", str(tmp_path / "single"), "--cache-dir",
                             str(tmp_path / "c1")], env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    for late in ("1", "0"):
        out, cache = tmp_path / f"multi{late}", tmp_path / f"c2-{late}"
        multi = subprocess.run(
            [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
             "no", "--dynamo_backend", "no", *args, "--output", str(out), "--cache-dir", str(cache)],
            env={**env, "UG_TEST_LOCK_DELAY": f"{late}:0.5"}, capture_output=True, text=True, timeout=300)
        assert multi.returncode == 0, f"rank {late} late: " + multi.stderr[-3000:]
        for task in tasks.split(","):
            a = json.loads((out / "random" / f"{task}.json").read_text())
            b = json.loads((tmp_path / "single" / "random" / f"{task}.json").read_text())
            assert a["config"]["num_processes"] == 2 and b["config"]["num_processes"] == 1
            assert a["scores"] == b["scores"]
            assert set(a["config"]["chunks_encoded_by_process"]) == {"0", "1"}  # both ranks encoded a share
        # both processes encoded: chunks of each side were written by the 2 ranks into one cache, each with
        # its checksum
        chunks = list(cache.rglob("chunk_*.npy"))
        assert len(chunks) == len(list((tmp_path / "c1").rglob("chunk_*.npy")))
        assert all(c.with_suffix(".sha256").is_file() for c in chunks)


def test_corrupt_chunks_are_reencoded_with_a_warning(mock_data, tmp_path, capfd):
    """A chunk overwritten with other valid floats, and a truncated one, are caught by their checksums:
    one warning line each, re-encoded, and the scores equal a clean run's."""
    from ugbench.evaluation import evaluate

    kw = dict(tasks="retrieval_image2image", output=None, cache_dir=tmp_path / "c", chunk_size=4, batch_size=2,
              show_progress=False)
    clean = evaluate("random", mock_data, **kw)[0]["scores"]
    chunks = sorted((tmp_path / "c").rglob("chunk_*.npy"))
    assert len(chunks) >= 2
    other = np.random.default_rng(1).standard_normal(np.load(chunks[0]).shape).astype(np.float32)
    np.save(chunks[0], other)  # valid floats, wrong ones: only the checksum tells
    chunks[1].write_bytes(chunks[1].read_bytes()[:40])  # truncated
    capfd.readouterr()
    assert evaluate("random", mock_data, **kw)[0]["scores"] == clean
    err = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 2, err
    assert str(chunks[0]) in err[0] and "does not match its checksum" in err[0]
    assert str(chunks[1]) in err[1] and "unreadable" in err[1]
    assert evaluate("random", mock_data, **kw)[0]["scores"] == clean  # re-written valid: no more warnings
    assert "warning:" not in capfd.readouterr().err


_EDITABLE = """
from ugbench.models.random_baseline import RandomEncoder
from ugcore.protocol import ModelMeta

SALT = {salt}


class Model(RandomEncoder):
    def __init__(self, device=None):
        super().__init__(dim=8, seed=SALT)
        self.meta = ModelMeta(name="edited-model", embed_dim=8, modalities=["text", "image"])  # revision "none"
"""


def test_a_code_model_that_changes_gets_a_new_cache_key(mock_data, tmp_path, monkeypatch):
    """A `module:attr` model edited with its revision left at the default: the cache key follows its source,
    so the edited model is encoded afresh (scores equal a run without cache), not served the old vectors.
    A model folder changed in place (a checkpoint retrained) changes the key the same way."""
    import importlib

    from ugbench.cache import model_digest
    from ugbench.evaluation import evaluate

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    src = tmp_path / "ug_edited_model.py"
    src.write_text(_EDITABLE.format(salt=1))
    kw = dict(tasks="retrieval_image2image", output=None, chunk_size=4, show_progress=False)
    first = evaluate("ug_edited_model:Model", mock_data, cache_dir=tmp_path / "c", **kw)[0]["scores"]
    mod = importlib.import_module("ug_edited_model")
    d1 = model_digest(mod.Model(), "ug_edited_model:Model")
    src.write_text(_EDITABLE.format(salt=22))  # the code changed, the declared revision did not
    importlib.reload(mod)
    d2 = model_digest(mod.Model(), "ug_edited_model:Model")
    assert d1 != d2 and d1.startswith("code-")
    fresh = evaluate("ug_edited_model:Model", mock_data, cache_dir=None, **kw)[0]["scores"]
    cached = evaluate("ug_edited_model:Model", mock_data, cache_dir=tmp_path / "c", **kw)[0]["scores"]
    assert fresh != first  # the edit matters ...
    assert cached == fresh  # ... and the cache did not hide it
    keys = {json.loads(m.read_text())["model_digest"] for m in (tmp_path / "c" / "edited-model").glob("*/meta.json")}
    assert keys == {d1, d2}  # entries of each version of the code
    # a model folder: its content is in the key
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0" * 64)
    before = model_digest(mod.Model(), str(folder))
    (folder / "weights.bin").write_bytes(b"\1" * 64)
    assert model_digest(mod.Model(), str(folder)) != before


def test_one_cache_root_for_every_cache(monkeypatch, tmp_path):
    """Pointing UG_CACHE (or XDG_CACHE_HOME) at an empty folder gives a cold start for every cache: tiny
    backbones, embeddings and fingerprints all live under the one root (the embedding cache used to sit in
    ~/.cache/ugbench whatever UG_CACHE said, so a "fresh" run reused old embeddings)."""
    from ugbench.evaluation import default_cache_dir
    from ugcore.backbones import sources
    from ugcore.shared import cache_root
    from ugdata import fingerprint

    monkeypatch.delenv("UGBENCH_CACHE", raising=False)
    monkeypatch.setenv("UG_CACHE", str(tmp_path / "ug"))
    assert cache_root() == tmp_path / "ug"
    assert default_cache_dir() == tmp_path / "ug" / "embeddings"
    assert fingerprint._cache_dir() == tmp_path / "ug" / "fingerprints"
    assert sources.cache_root() == tmp_path / "ug"
    monkeypatch.delenv("UG_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "urban-graph-embeddings" / "embeddings"
    monkeypatch.setenv("UGBENCH_CACHE", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
