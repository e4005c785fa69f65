"""Bad input through the CLI: one-line errors, exit code 2, nothing half-written."""

from __future__ import annotations

import json

import pytest
from cli_checks import run_cli


def _cli(capsys, monkeypatch, *args) -> tuple[int, str]:
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", *args)
    return code, err


def _evaluate(capsys, monkeypatch, model, data, out, *extra):
    return _cli(capsys, monkeypatch, "evaluate", "--model", model, "--data", data, "--output", out, "--quiet",
                "--no-cache", *extra)


def _one_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("error:"), err
    return " ".join(lines)  # rich may soft-wrap a long line; it is still one message


def test_unknown_model_suggests(capsys, monkeypatch, mock_data, tmp_path):
    code, err = _evaluate(capsys, monkeypatch, "minilmm", mock_data, tmp_path / "out")
    assert code == 2 and "Did you mean: minilm" in _one_line(err)
    assert not (tmp_path / "out").exists()


def test_unknown_task_suggests(capsys, monkeypatch, mock_data, tmp_path):
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, tmp_path / "out", "--tasks", "geoloc_rnak")
    assert code == 2 and "Did you mean: geoloc_rank" in _one_line(err)


def test_not_ugdata(capsys, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    code, err = _evaluate(capsys, monkeypatch, "random", tmp_path / "empty", tmp_path / "out")
    assert code == 2 and "not a UGData directory" in _one_line(err)
    code, err = _evaluate(capsys, monkeypatch, "random", tmp_path / "missing", tmp_path / "out")
    assert code == 2 and "does not exist" in _one_line(err)


def test_cache_fingerprint_mismatch(capsys, monkeypatch, mock_data, tmp_path):
    cache = tmp_path / "cache"
    args = ("--tasks", "retrieval_image2image", "--cache-dir", cache)
    code, _ = _cli(capsys, monkeypatch, "evaluate", "--model", "random", "--data", mock_data, "--output",
                   tmp_path / "a", "--quiet", *args)
    assert code == 0
    metas = list(cache.rglob("meta.json"))
    assert len(metas) == 2  # query and document sides
    for mf in metas:
        meta = json.loads(mf.read_text())
        meta["fingerprint"] = "0123456789abcdef"
        mf.write_text(json.dumps(meta))
    code, err = _cli(capsys, monkeypatch, "evaluate", "--model", "random", "--data", mock_data, "--output",
                     tmp_path / "b", "--quiet", *args)
    assert code == 2 and "does not match" in _one_line(err) and "--overwrite" in err
    assert not list((tmp_path / "b").rglob("retrieval_image2image.json"))
    code, _ = _cli(capsys, monkeypatch, "evaluate", "--model", "random", "--data", mock_data, "--output",
                   tmp_path / "b", "--quiet", "--overwrite", *args)
    assert code == 0


@pytest.mark.parametrize("attr,message", [("NaNModel", "NaN"), ("WrongDimModel", "dimension"),
                                          ("ShortModel", "one per input")])
def test_bad_embeddings(capsys, monkeypatch, mock_data, tmp_path, custom_module, attr, message):
    code, err = _evaluate(capsys, monkeypatch, f"{custom_module}:{attr}", mock_data, tmp_path / "out",
                          "--tasks", "geoloc_rank,retrieval_image2image")
    line = _one_line(err)
    assert code == 2 and message in line and "hash-model" in line and "geoloc_rank" in line
    assert not list((tmp_path / "out").rglob("geoloc_rank.json"))


def test_checkpoint_without_weights(capsys, monkeypatch, mock_data, tmp_path, checkpoint_dir):
    (checkpoint_dir / "weights.bin").unlink()
    code, err = _evaluate(capsys, monkeypatch, checkpoint_dir, mock_data, tmp_path / "out")
    assert code == 2 and "has no weights" in _one_line(err) and "weights.bin" in err
    bare = tmp_path / "bare"
    bare.mkdir()
    code, err = _evaluate(capsys, monkeypatch, bare, mock_data, tmp_path / "out")
    assert code == 2 and "not a model" in _one_line(err)
    assert not (tmp_path / "out").exists()


def test_image_fails_to_decode(capsys, monkeypatch, tmp_path):
    from ugbench.testing import build_mock_ugdata

    data = build_mock_ugdata(tmp_path / "broken", n_places=6, broken_image="img000002_1")
    code, err = _evaluate(capsys, monkeypatch, "random", data, tmp_path / "out", "--tasks",
                          "geoloc_rank,retrieval_image2image")
    line = _one_line(err)
    assert code == 2 and "img000002_1" in line and "failed to decode" in line
    out = tmp_path / "out" / "random"
    assert (out / "geoloc_rank.json").is_file()  # finished before the bad image: kept, whole
    assert not (out / "retrieval_image2image.json").exists()
    assert not [p for p in tmp_path.rglob("*.tmp")]
