"""`ugbench evaluate` with bad input: outputs checked before any encoding, results files that cannot be kept
(truncated, of other data) recomputed, a model spec that is not a model, a missing model path, an empty
--tasks, and per-task failures reported at the end. Each: one line, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import textwrap

import pytest
from cli_checks import run_cli

TASKS = "geoloc_rank,retrieval_image2image"


def _cli(capsys, monkeypatch, *args) -> tuple[int, str]:
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", *args)
    return code, err


def _evaluate(capsys, monkeypatch, model, data, out, *extra):
    return _cli(capsys, monkeypatch, "evaluate", "--model", model, "--data", data, "--output", out, "--quiet",
                "--no-cache", *extra)


def _error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("error:"), err
    return lines[-1]


def test_attribute_that_is_not_a_model(capsys, monkeypatch, mock_data, tmp_path):
    code, err = _evaluate(capsys, monkeypatch, "json:dumps", mock_data, tmp_path / "out", "--tasks", TASKS)
    line = _error_line(err)
    assert code == 2 and "`json:dumps`" in line and "model object, a model class or a factory" in line
    assert not (tmp_path / "out").exists()


def test_missing_model_path_says_no_such_path(capsys, monkeypatch, mock_data, tmp_path):
    missing = tmp_path / "runs" / "stage1" / "final"
    code, err = _evaluate(capsys, monkeypatch, missing, mock_data, tmp_path / "out")
    line = _error_line(err)
    assert code == 2 and line.startswith(f"error: no such path '{missing}'") and "unknown model" not in line
    code, err = _evaluate(capsys, monkeypatch, "./nowhere/", mock_data, tmp_path / "out")
    assert code == 2 and "no such path './nowhere/'" in _error_line(err)


def test_empty_tasks_is_an_error(capsys, monkeypatch, mock_data, tmp_path):
    for tasks in ("", " , "):
        code, err = _evaluate(capsys, monkeypatch, "random", mock_data, tmp_path / "out", "--tasks", tasks)
        assert code == 2 and "--tasks is empty" in _error_line(err) and "'all'" in err
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file_is_refused_before_encoding(capsys, monkeypatch, mock_data, tmp_path):
    from ugbench import encoding

    def never(*a, **k):  # the check must come before any encoding
        raise AssertionError("encoded before checking --output")

    monkeypatch.setattr(encoding.Encoder, "encode", never)
    f = tmp_path / "results.txt"
    f.write_text("mine\n")
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, f, "--tasks", TASKS)
    assert code == 2 and "is a file, not a folder" in _error_line(err) and str(f) in err
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, f / "sub", "--tasks", TASKS)
    assert code == 2 and "is a file" in _error_line(err)
    assert f.read_text() == "mine\n"


def test_truncated_result_is_recomputed(capsys, monkeypatch, mock_data, tmp_path):
    out = tmp_path / "out"
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, out, "--tasks", TASKS)
    assert code == 0, err
    target = out / "random" / "geoloc_rank.json"
    good = json.loads(target.read_text())
    target.write_text(target.read_text()[:40])  # a run killed while another tool wrote it, or a bad copy
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, out, "--tasks", TASKS)
    assert code == 0 and "Traceback" not in err
    assert "geoloc_rank" in err and "unreadable or truncated" in err and "recomputing" in err
    again = json.loads(target.read_text())  # whole again, same scores
    assert again["scores"] == good["scores"]
    assert not list(out.rglob("*.tmp"))


def test_results_of_other_data_are_recomputed(capsys, monkeypatch, mock_data, tmp_path):
    out = tmp_path / "out"
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, out, "--tasks", TASKS)
    assert code == 0, err
    target = out / "random" / "retrieval_image2image.json"
    doc = json.loads(target.read_text())
    fp = doc["provenance"]["dataset_fingerprint"]
    doc["provenance"]["dataset_fingerprint"] = "0" * 64
    doc["scores"]["test"]["main_score"] = 0.999
    target.write_text(json.dumps(doc))
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, out, "--tasks", TASKS)
    assert code == 0 and "computed on other data" in err and "recomputing" in err
    fresh = json.loads(target.read_text())
    assert fresh["provenance"]["dataset_fingerprint"] == fp and fresh["scores"]["test"]["main_score"] != 0.999
    assert "geoloc_rank.json exists, skipped" in err  # the good one is kept


FAILING = textwrap.dedent('''
    import numpy as np
    from ugcore.protocol import ModelMeta

    class FailsOnGeoloc:
        def __init__(self, device=None):
            self.meta = ModelMeta(name="fails-on-geoloc", revision="t1", embed_dim=8, modalities=["text", "image"])

        def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
            rng = np.random.default_rng(len(items))
            out = rng.normal(size=(len(items), 8)).astype(np.float32)
            if task_name == "geoloc_rank":
                out[0, 0] = np.nan
            return out
''')


def test_a_failing_task_does_not_stop_the_others(capsys, monkeypatch, mock_data, tmp_path):
    (tmp_path / "ugb_fails_on_geoloc.py").write_text(FAILING)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    code, err = _evaluate(capsys, monkeypatch, "ugb_fails_on_geoloc:FailsOnGeoloc", mock_data, out,
                          "--tasks", "geoloc_rank,retrieval_image2image,retrieval_caption2image")
    line = _error_line(err)
    assert code == 2 and line.startswith("error: 1 of 3 tasks failed") and "geoloc_rank: " in line and "NaN" in line
    folder = out / "fails-on-geoloc"
    assert not (folder / "geoloc_rank.json").exists()
    # the tasks after the failing one ran and were written whole, with the summary
    assert (folder / "retrieval_image2image.json").is_file() and (folder / "retrieval_caption2image.json").is_file()
    assert "retrieval_image2image" in (folder / "summary.md").read_text()


@pytest.mark.parametrize("args,needle", [
    (["--batch-size", "0"], "--batch-size and --chunk-size must be >= 1"),
    (["--model-option", "dim"], "--model-option expects KEY=VALUE"),
])
def test_bad_numbers_and_options(capsys, monkeypatch, mock_data, tmp_path, args, needle):
    code, err = _evaluate(capsys, monkeypatch, "random", mock_data, tmp_path / "out", *args)
    assert code == 2 and needle in _error_line(err)
    assert not (tmp_path / "out").exists()
