"""`ugbench search` with damaged or wrong files: a query vector that is not a .npy array, a truncated or
damaged index archive. Each: one line naming the file and the fix, exit 2, no traceback, nothing changed."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from ugbench.cli import main


def run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["ugbench", "search", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "1000")
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def _line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


@pytest.fixture()
def index(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    n, dim = 120, 8
    np.save(tmp_path / "v.npy", rng.normal(size=(n, dim)).astype(np.float32))
    pd.DataFrame({"lon": rng.uniform(24.90, 24.96, n), "lat": rng.uniform(60.15, 60.18, n)}).to_csv(
        tmp_path / "c.csv", index=False)
    np.save(tmp_path / "q.npy", rng.normal(size=dim).astype(np.float32))
    code, _, err = run(monkeypatch, capsys, "build", "--vectors", tmp_path / "v.npy", "--coords", tmp_path / "c.csv",
                       "--out", tmp_path / "ix", "--no-gmr")
    assert code == 0, err
    return tmp_path


QUERY = ["--lat", "60.16", "--lon", "24.93"]


@pytest.mark.parametrize("content,needle", [
    (b"0.1,0.2,0.3\n", "not a .npy file (no NumPy .npy header)"),
    (b"", "is empty"),
    (b"PK\x03\x04rest", "is a .npz archive"),
])
def test_query_vector_not_npy(monkeypatch, capsys, index, content, needle):
    f = index / "query.npy"
    f.write_bytes(content)
    code, _, err = run(monkeypatch, capsys, "query", "--index", index / "ix", "--vector", f, *QUERY)
    line = _line(err)
    assert code == 2 and str(f) in line and needle in line and "numpy.save" in line
    assert f.read_bytes() == content


def test_query_vector_of_python_objects(monkeypatch, capsys, index):
    f = index / "objects.npy"
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run(monkeypatch, capsys, "query", "--index", index / "ix", "--vector", f, *QUERY)
    line = _line(err)
    assert code == 2 and "holds Python objects, not numbers" in line and "pickled" not in line


def test_vectors_file_not_npy_on_build(monkeypatch, capsys, index):
    f = index / "vectors.csv.npy"
    f.write_text("1,2,3\n")
    code, _, err = run(monkeypatch, capsys, "build", "--vectors", f, "--coords", index / "c.csv", "--out",
                       index / "ix2")
    assert code == 2 and "--vectors" in _line(err) and str(f) in err
    assert not (index / "ix2").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing_array"])
def test_damaged_index_archive(monkeypatch, capsys, index, damage):
    ap = index / "ix" / "arrays.npz"
    data = ap.read_bytes()
    if damage == "truncated":
        ap.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        ap.write_bytes(b"\0" * 100)
    else:
        with np.load(ap) as z:
            arrays = {k: z[k] for k in z.files if k != "vectors"}
        np.savez(ap, **arrays)
    before = ap.read_bytes()
    code, _, err = run(monkeypatch, capsys, "query", "--index", index / "ix", "--vector", index / "q.npy", *QUERY)
    line = _line(err)
    assert code == 2 and str(ap) in line and "rebuild the index" in line
    assert ap.read_bytes() == before
