"""The map delegates to ugdata's plot; the `ugbench figures` CLI draws all figures and fails in one line."""

from __future__ import annotations

import sys

import pytest
from fig_helpers import check_png

from ugbench.figures import FILENAMES, family_bars, loss_curves, map_figure, radar
from ugdata.plot import plot_dir


def test_map_is_ugdatas_plot(ug_dir, tmp_path):
    ours = map_figure(ug_dir, tmp_path / "map.png")
    theirs = plot_dir(ug_dir, tmp_path / "ugdata.png")
    rgb = check_png(ours)
    assert rgb.shape[0] > 400 and rgb.shape[1] > 400
    assert ours.read_bytes() == theirs.read_bytes()  # one implementation, and two runs give the same bytes


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from ugbench.cli import main

    monkeypatch.setattr(sys, "argv", ["ugbench", "figures", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_figures_all_is_deterministic(ug_dir, grid, leaderboard, runs, tmp_path, monkeypatch, capsys):
    """The CLI draws every figure, byte-identical to the same figures drawn separately through the API."""
    out = tmp_path / "figs"
    code, stdout, _ = _cli(monkeypatch, capsys, "all", "--data", str(ug_dir), "--leaderboard", str(leaderboard),
                           "--runs", str(runs[0]), "--runs", str(runs[1]), "--model", "random", "--out", str(out))
    assert code == 0, stdout
    for name, fname in FILENAMES.items():
        assert f"wrote {name}" in stdout
        check_png(out / fname)
    api = tmp_path / "api"
    same = {
        "retrieval": grid.out,  # drawn by the session fixture with the same defaults (seed 0, 4 queries, top 5)
        "map": map_figure(ug_dir, api / "map.png"),
        "bars": family_bars(leaderboard, api / "bars.png"),
        "radar": radar(leaderboard, api / "radar.png"),
        "losses": loss_curves(runs, api / "losses.png"),
    }
    for name, path in same.items():
        assert (out / FILENAMES[name]).read_bytes() == path.read_bytes(), f"{name} differs between runs"
    code, stdout, _ = _cli(monkeypatch, capsys, "all", "--leaderboard", str(leaderboard), "--out", str(tmp_path / "f2"))
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "f2").iterdir()) == sorted([FILENAMES["bars"], FILENAMES["radar"]])
    for name in ("map", "retrieval", "losses"):
        assert f"skipped {name}" in stdout


def test_single_figure_commands(leaderboard, runs, tmp_path, monkeypatch, capsys):
    code, stdout, _ = _cli(monkeypatch, capsys, "bars", "-l", str(leaderboard), "-o", str(tmp_path / "b.png"))
    assert code == 0 and "wrote" in stdout
    check_png(tmp_path / "b.png")
    code, _, _ = _cli(monkeypatch, capsys, "losses", "--runs", str(runs[1]), "-o", str(tmp_path / "l.png"))
    assert code == 0
    check_png(tmp_path / "l.png")


@pytest.mark.parametrize("args, match", [
    (["retrieval", "--data", "{data}", "--model", "randm", "-o", "{tmp}/r.png"], "Did you mean"),
    (["bars", "-l", "{tmp}/nope.json", "-o", "{tmp}/b.png"], "not found"),
    (["losses", "--runs", "{tmp}/norun", "-o", "{tmp}/l.png"], "not found"),
    (["all", "--out", "{tmp}/none"], "no figure drawn"),
])
def test_cli_errors_are_one_line(ug_dir, tmp_path, monkeypatch, capsys, args, match):
    args = [a.format(data=ug_dir, tmp=tmp_path) for a in args]
    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and match in lines[0], err
    assert "Traceback" not in err
