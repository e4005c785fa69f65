"""`ugbench search build/query` end to end, and one-line errors (exit 2) for bad input."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from ugbench.cli import main


def run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["ugbench", "search", *args])
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: one line per row
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def npy_corpus(tmp_path):
    rng = np.random.default_rng(0)
    n, dim = 400, 12
    np.save(tmp_path / "v.npy", rng.normal(size=(n, dim)).astype(np.float32))
    pd.DataFrame(
        {"lon": rng.uniform(24.90, 24.96, n), "lat": rng.uniform(60.15, 60.18, n), "id": [f"img{i}" for i in range(n)]}
    ).to_csv(tmp_path / "c.csv", index=False)
    np.save(tmp_path / "q.npy", rng.normal(size=dim).astype(np.float32))
    np.save(tmp_path / "q_bad.npy", rng.normal(size=dim + 1).astype(np.float32))
    return tmp_path


def test_build_and_query(monkeypatch, capsys, npy_corpus):
    d = npy_corpus
    code, out, err = run(monkeypatch, capsys, "build", "--vectors", str(d / "v.npy"), "--coords", str(d / "c.csv"),
                         "--out", str(d / "ix"))
    assert code == 0, err
    assert "400 objects" in out
    tables = {}
    for engine in ("ours", "gmr", "brute"):
        code, out, err = run(monkeypatch, capsys, "query", "--index", str(d / "ix"), "--vector", str(d / "q.npy"),
                             "--lat", "60.16", "--lon", "24.93", "--k", "5", "--mu", "0.5", "--engine", engine)
        assert code == 0, err
        tables[engine] = [ln.split("│")[2].strip() for ln in out.splitlines() if ln.startswith("│")]
        assert len(tables[engine]) == 5 and tables[engine][0].startswith("img")
    assert tables["ours"] == tables["brute"] == tables["gmr"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--index", "{d}/missing", "--vector", "{d}/q.npy"], "not found"),
        (["--index", "{d}/ix", "--vector", "{d}/q_bad.npy"], "dimension 13"),
        (["--index", "{d}/ix", "--vector", "{d}/q.npy", "--mu", "1.2"], "mu must lie in [0, 1]"),
        (["--index", "{d}/ix", "--vector", "{d}/q.npy", "--k", "0"], "k must be at least 1"),
        (["--index", "{d}/ix", "--text", "a street"], "--model NAME"),
        (["--index", "{d}/ix", "--vector", "{d}/q.npy", "--engine", "kd"], "unknown engine"),
    ],
)
def test_query_errors(monkeypatch, capsys, npy_corpus, args, message):
    d = npy_corpus
    code, _, _ = run(monkeypatch, capsys, "build", "--vectors", str(d / "v.npy"), "--coords", str(d / "c.csv"),
                     "--out", str(d / "ix"), "--no-gmr")
    assert code == 0
    code, out, err = run(monkeypatch, capsys, "query", "--lat", "60.16", "--lon", "24.93",
                         *[a.format(d=d) for a in args])
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or message in err.strip().splitlines()[0]


def test_build_errors(monkeypatch, capsys, npy_corpus):
    d = npy_corpus
    code, _, err = run(monkeypatch, capsys, "build", "--vectors", str(d / "v.npy"), "--out", str(d / "ix"))
    assert code == 2 and "--coords" in err
    code, _, err = run(monkeypatch, capsys, "build", "--out", str(d / "ix"))
    assert code == 2 and "either --data" in err
    pd.DataFrame({"x": [1.0]}).to_csv(d / "bad.csv", index=False)
    code, _, err = run(monkeypatch, capsys, "build", "--vectors", str(d / "v.npy"), "--coords", str(d / "bad.csv"),
                       "--out", str(d / "ix"))
    assert code == 2 and "lon" in err


def test_build_from_ugdata_with_a_real_text_model(monkeypatch, capsys, tmp_path):
    """Index a real (small, Helsinki) UGData build's captions with the bundled MiniLM, then query by text."""
    from ugdata.testing import small_build

    data = small_build(tmp_path / "ugdata", n_views=20)
    code, out, err = run(monkeypatch, capsys, "build", "--data", str(data), "--model", "minilm", "--field", "caption",
                         "--out", str(tmp_path / "ix"))
    assert code == 0, err
    import ugdata

    n_views = len(ugdata.load(data).views())
    assert f"{n_views} objects, 384-d" in " ".join(out.split())
    code, out, err = run(monkeypatch, capsys, "query", "--index", str(tmp_path / "ix"), "--text",
                         "a quiet street with shops", "--lat", "60.167", "--lon", "24.941", "--k", "3")
    assert code == 0, err
    ids = [ln.split("│")[2].strip() for ln in out.splitlines() if ln.startswith("│")]
    views = ugdata.load(data).views()
    assert len(ids) == 3 and set(ids) <= set(views["image_id"])
    code, _, err = run(monkeypatch, capsys, "build", "--data", str(tmp_path), "--model", "minilm",
                       "--out", str(tmp_path / "ix2"))
    assert code == 2 and "not a UGData directory" in err
