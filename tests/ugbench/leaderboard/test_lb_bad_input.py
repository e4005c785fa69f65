"""The leaderboard commands through the real entry point (`ugbench.cli.main`) with bad input: an --out that
is a file, a missing or truncated leaderboard, a missing benchmark declaration, results holding NaN or
computed on other data. Each: an error naming the file and the fix, exit 2, no traceback, and the
leaderboard (or whatever else was there) byte for byte as it was."""

from __future__ import annotations

import pytest
from cli_checks import run_cli
from lb_helpers import GEO, PERC, edit_json, make_spec, random_scores, write_results


def _cli(capsys, monkeypatch, *args) -> tuple[int, str]:
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", *args)
    return code, err


def _error_lines(err: str) -> list[str]:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err and lines and lines[0].startswith("error:"), err
    return lines


@pytest.fixture
def board(tmp_path, monkeypatch, capsys):
    lb = tmp_path / "lb" / "ugbench.json"
    lb.parent.mkdir()
    spec = make_spec(lb.parent / "ugbench.benchmark.json")
    code, err = _cli(capsys, monkeypatch, "submit", write_results(tmp_path / "res", spec, "first", random_scores(1)),
                     "--leaderboard", lb)
    assert code == 0, err
    return tmp_path, lb, spec


def test_render_out_is_a_file(capsys, monkeypatch, board):
    tmp, lb, _ = board
    f = tmp / "site.html"
    f.write_text("my page")
    for out in (f, f / "sub"):
        code, err = _cli(capsys, monkeypatch, "leaderboard", "render", "--leaderboard", lb, "--out", out)
        [line] = _error_lines(err)
        assert code == 2 and str(f) in line and "is a file, not a folder" in line and "give a folder" in line
    assert f.read_text() == "my page"


def test_render_missing_leaderboard(capsys, monkeypatch, tmp_path):
    code, err = _cli(capsys, monkeypatch, "leaderboard", "render", "--leaderboard", tmp_path / "nope.json",
                     "--out", tmp_path / "site")
    [line] = _error_lines(err)
    assert code == 2 and "nope.json not found" in line and "`ugbench submit` creates it" in line
    assert not (tmp_path / "site").exists()


def test_validate_truncated_leaderboard(capsys, monkeypatch, board):
    tmp, lb, _ = board
    lb.write_bytes(lb.read_bytes()[:200])
    before = lb.read_bytes()
    code, err = _cli(capsys, monkeypatch, "leaderboard", "validate", "--leaderboard", lb)
    lines = _error_lines(err)
    assert code == 2 and str(lb) in lines[0] and "not valid JSON" in err and "restore it from git" in err
    assert lb.read_bytes() == before


def test_submit_results_with_nan(capsys, monkeypatch, board):
    tmp, lb, spec = board
    before = lb.read_bytes()
    d = write_results(tmp / "nan", spec, "nan-model", random_scores(2))
    p = d / f"{GEO}.json"
    p.write_text(p.read_text().replace('"n_queries": 40', '"n_queries": NaN'))
    code, err = _cli(capsys, monkeypatch, "submit", d, "--leaderboard", lb)
    lines = _error_lines(err)
    assert code == 2 and lines[0].startswith("error: submission rejected")
    assert f"{GEO}.json: holds NaN" in err
    assert lb.read_bytes() == before


def test_submit_results_of_other_data(capsys, monkeypatch, board):
    tmp, lb, spec = board
    before = lb.read_bytes()
    d = write_results(tmp / "other", spec, "other-data", random_scores(3))
    edit_json(d / f"{PERC}.json", lambda r: r["provenance"].update(dataset_fingerprint="sha256:" + "cd" * 32))
    code, err = _cli(capsys, monkeypatch, "submit", d, "--leaderboard", lb)
    lines = _error_lines(err)
    assert code == 2 and lines[0].startswith("error: submission rejected")
    assert f"{PERC}.json: computed on dataset fingerprint" in err
    assert lb.read_bytes() == before


def test_submit_without_a_benchmark_declaration(capsys, monkeypatch, board):
    tmp, lb, spec = board
    lone = tmp / "lone" / "board.json"
    lone.parent.mkdir()
    d = write_results(tmp / "res2", spec, "second", random_scores(4))
    code, err = _cli(capsys, monkeypatch, "submit", d, "--leaderboard", lone)
    [line] = _error_lines(err)
    assert code == 2 and "board.benchmark.json not found" in line and "ugbench leaderboard declare" in line
    assert not lone.exists()


def test_submit_missing_results_folder(capsys, monkeypatch, board):
    tmp, lb, _ = board
    before = lb.read_bytes()
    code, err = _cli(capsys, monkeypatch, "submit", tmp / "no-such-results", "--leaderboard", lb)
    [line] = _error_lines(err)
    assert code == 2 and "no-such-results" in line
    assert lb.read_bytes() == before


def test_submit_hostile_results_files(capsys, monkeypatch, board):
    tmp, lb, spec = board
    before = lb.read_bytes()
    d = write_results(tmp / "hostile", spec, "hostile", random_scores(5))
    (d / f"{GEO}.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / f"{PERC}.json").write_bytes(b"\xff\xfe\x00garbage")
    code, err = _cli(capsys, monkeypatch, "submit", d, "--leaderboard", lb)
    lines = _error_lines(err)
    assert code == 2 and lines[0].startswith("error: submission rejected")
    assert f"{GEO}.json: JSON nested too deeply" in err and f"{PERC}.json: not UTF-8" in err
    assert lb.read_bytes() == before
