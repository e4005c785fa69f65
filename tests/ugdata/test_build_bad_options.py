"""`ugdata build` and `ugdata check` through their real entry point (`ugdata.cli.main`, as the console script
runs it): exit codes kept, --overwrite only over a UGData directory, options and the output checked before
any work, views tables with the wrong separator or swapped coordinates, and tasks the data cannot support
omitted with their reason. Each error: one line naming the thing and the fix, a non-zero exit, no
traceback, nothing already there touched."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from cli_checks import run_cli
from PIL import Image
from ugdata_town import DLAT, DLON, LAT0, LON0


def _cli(capsys, monkeypatch, *args, prog="ugdata") -> tuple[int, str, str]:
    return run_cli(capsys, monkeypatch, prog, *args)


def _error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_check_exits_1_when_it_finds_a_problem(capsys, monkeypatch, town_dir, tmp_path):
    code, out, err = _cli(capsys, monkeypatch, "check", town_dir)
    assert code == 0, err
    copy = tmp_path / "copy"
    shutil.copytree(town_dir, copy)
    (copy / "graph" / "nodes.parquet").write_bytes(b"")
    code, out, err = _cli(capsys, monkeypatch, "check", copy)
    assert code == 1 and "FAIL" in err and "Traceback" not in err


def test_overwrite_refuses_a_folder_it_did_not_write(capsys, monkeypatch, town_osm, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    code, _, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--synth", 5, "--out", mine, "--overwrite")
    line = _error_line(err)
    assert code == 2 and str(mine) in line and "not a UGData directory" in line and "choose another --out" in line
    assert (mine / "thesis.tex").read_text() == "years of work"
    # a manifest.json of something else is not enough either
    (mine / "manifest.json").write_text(json.dumps({"format": "other"}))
    code, _, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--synth", 5, "--out", mine, "--overwrite")
    assert code == 2 and "not a UGData directory" in _error_line(err)
    assert sorted(p.name for p in mine.iterdir()) == ["manifest.json", "thesis.tex"]


def test_overwrite_refuses_the_current_folder_and_files(capsys, monkeypatch, town_osm, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("keep")
    monkeypatch.chdir(work)
    for out in (".", "..", "./"):
        code, _, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--synth", 5, "--out", out,
                            "--overwrite")
        assert code == 2 and "current folder" in _error_line(err)
    f = work / "notes.txt"
    code, _, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--synth", 5, "--out", f, "--overwrite")
    assert code == 2 and "is a file" in _error_line(err)
    assert f.read_text() == "keep"


def test_overwrite_replaces_a_ugdata_directory(capsys, monkeypatch, town_osm, town_dir, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(town_dir, out)
    code, stdout, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--synth", 6, "--no-render",
                             "--no-graphml", "--out", out, "--overwrite")
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["config"]["synth"] == 6


@pytest.mark.parametrize("flag,value,needle", [
    ("--block-m", "0", "--block-m must be > 0"),
    ("--block-m", "-50", "--block-m must be > 0"),
    ("--block-m", "nan", "--block-m must be a finite number"),
    ("--buffer-m", "-1", "--buffer-m must be >= 0"),
    ("--max-snap-m", "0", "--max-snap-m must be > 0"),
    ("--synth-size", "2", "--synth-size must be"),
    ("--synth", "0", "--synth must be a positive number"),
    ("--views-per-point", "9", "--views-per-point must be 1..8"),
])
def test_bad_numeric_options_fail_before_any_work(capsys, monkeypatch, tmp_path, flag, value, needle):
    import ugdata.build as B

    def never(*a, **k):
        raise AssertionError("OSM loaded before the options were checked")

    monkeypatch.setattr(B, "load_osm", never)
    out = tmp_path / "o"
    code, _, err = _cli(capsys, monkeypatch, "build", "--out", out, flag, value)
    assert code == 2 and needle in _error_line(err)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_unwritable_output_is_found_before_the_build(capsys, monkeypatch, tmp_path):
    import ugdata.build as B

    monkeypatch.setattr(B, "load_osm", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built first")))
    blocker = tmp_path / "data"
    blocker.write_text("a file where a folder should be")
    code, _, err = _cli(capsys, monkeypatch, "build", "--synth", 5, "--out", blocker / "city")
    line = _error_line(err)
    assert code == 2 and str(blocker) in line and "is a file, not a folder" in line
    assert blocker.read_text() == "a file where a folder should be"
    if hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        code, _, err = _cli(capsys, monkeypatch, "build", "--synth", 5, "--out", ro / "city")
        assert code == 2 and "not writable" in _error_line(err)


def _town_views(tmp_path, *, swap=False, sep=","):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rows = []
    for k in range(8):
        lat, lon = LAT0 + (0.3 + 0.4 * k) * DLAT, LON0 + DLON + 4 / 55_600.0
        Image.fromarray(np.full((16, 16, 3), 20 * k, dtype=np.uint8)).save(imgs / f"v{k}.png")
        rows.append({"id": f"v{k}", "lat": lon if swap else lat, "lon": lat if swap else lon, "heading": 0})
    table = tmp_path / "views.csv"
    pd.DataFrame(rows).to_csv(table, index=False, sep=sep)
    return table, imgs


def test_semicolon_separated_views_table(capsys, monkeypatch, town_osm, tmp_path):
    table, imgs = _town_views(tmp_path, sep=";")
    out = tmp_path / "o"
    code, _, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--views", table, "--images", imgs,
                        "--out", out)
    line = _error_line(err)
    assert code == 2 and str(table) in line and "separated by semicolons, not commas" in line
    assert "comma-separated" in line and not out.exists()


def test_swapped_lat_lon_says_so_and_writes_the_rejects(capsys, monkeypatch, town_osm, tmp_path):
    table, imgs = _town_views(tmp_path, swap=True)
    out = tmp_path / "o"
    code, _, err = _cli(capsys, monkeypatch, "build", "--osm", town_osm, "--views", table, "--images", imgs,
                        "--out", out)
    line = _error_line(err)
    assert code == 2 and "lat and lon look swapped" in line and "swap the lat and lon columns" in line
    rejects = tmp_path / "o.rejects.csv"
    assert str(rejects) in line and not out.exists()
    rej = pd.read_csv(rejects)
    assert sorted(rej.image_id) == [f"v{k}" for k in range(8)] and rej.reason.str.contains("max-snap-m").all()


def test_task_the_data_cannot_support_is_omitted_with_its_reason(capsys, monkeypatch, town_dir, tmp_path):
    """The 40-view town has one spatial fold in val and in test: perception probes cannot cross-validate
    there, so the build omits the task and says why; check and evaluate report it, evaluate runs the rest."""
    m = json.loads((town_dir / "manifest.json").read_text())
    assert "perception_osm" not in m["tasks"] and "2 or more spatial folds" in m["omitted_tasks"]["perception_osm"]
    assert not (town_dir / "tasks" / "perception_osm").exists()
    code, _, err = _cli(capsys, monkeypatch, "check", town_dir)
    assert code == 0 and "omitted task perception_osm" in err
    code, _, err = _cli(capsys, monkeypatch, "evaluate", "--model", "random", "--data", town_dir, "--output",
                        tmp_path / "r", "--tasks", "perception_osm", "--quiet", "--no-cache", prog="ugbench")
    assert code == 2 and "was not built on" in _error_line(err) and "spatial folds" in err
    code, _, err = _cli(capsys, monkeypatch, "evaluate", "--model", "random", "--data", town_dir, "--output",
                        tmp_path / "r", "--tasks", "all", "--quiet", "--no-cache", prog="ugbench")
    assert code == 0, err
    written = {p.stem for p in (tmp_path / "r" / "random").glob("*.json")} - {"summary"}
    assert "geoloc_rank" in written and not any(w.startswith("perception_osm") for w in written)


def _table(tmp_path, kind):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for k in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * k, dtype=np.uint8)).save(imgs / f"v{k}.png")
    t = tmp_path / ("views.xlsx" if kind == "extension" else "views.csv")
    if kind == "header_only":
        t.write_text("id,lat,lon\n")
    elif kind == "no_lat":
        t.write_text("id,latitude_deg,lon\nv0,60.0,25.0\n")
    elif kind == "binary":
        t.write_bytes(b"\x00\xff\xfe\x01" * 64)
    elif kind == "extension":
        t.write_bytes(b"PK\x03\x04")
    elif kind == "out_of_range":
        t.write_text("id,lat,lon\nv0,95.0,25.0\nv1,60.0,200.0\nv2,abc,25.0\n")
    elif kind == "duplicates":  # the only rows with good coordinates share an id with a bad one
        t.write_text("id,lat,lon\nv0,95.0,25.0\nv0,60.0,25.0\nv0,60.0,25.0\n")
    return t, imgs


@pytest.mark.parametrize("kind,needles", [
    ("missing", ["metadata table not found"]),
    ("header_only", ["has no data rows"]),
    ("no_lat", ["lat"]),
    ("binary", ["cannot read as CSV"]),
    ("extension", ["unsupported table format '.xlsx'", "use CSV"]),
    ("out_of_range", ["no usable street views (3 rejected", "first: row 1: lat out of range", ".rejects.csv"]),
    ("duplicates", ["no usable street views (3 rejected", "duplicate id", ".rejects.csv"]),
])
def test_views_table_problems(capsys, monkeypatch, town_osm, tmp_path, kind, needles):
    if kind == "missing":
        t, imgs = tmp_path / "nope.csv", None
    else:
        t, imgs = _table(tmp_path, kind)
    out = tmp_path / "o"
    args = ["build", "--osm", town_osm, "--views", t, "--out", out] + (["--images", imgs] if imgs else [])
    code, _, err = _cli(capsys, monkeypatch, *args)
    line = _error_line(err)
    assert code == 2 and str(t.name) in line, line
    for n in needles:
        assert n in line, (n, line)
    assert not out.exists()
    if ".rejects.csv" in needles:
        rej = pd.read_csv(tmp_path / "o.rejects.csv")
        assert sorted(rej.row) == [1, 2, 3] and rej.reason.str.len().gt(0).all()


def test_check_detects_data_edited_after_the_build(capsys, monkeypatch, town_dir, tmp_path):
    copy = tmp_path / "edited"
    shutil.copytree(town_dir, copy)
    q = copy / "tasks" / "geoloc_rank" / "queries.parquet"
    df = pd.read_parquet(q)
    df["candidate_ids"] = [list(p) + [c for c in cs if c not in set(p)] for p, cs in
                           zip(df.positive_ids, df.candidate_ids, strict=True)]  # positives first
    df.to_parquet(q)
    code, _, err = _cli(capsys, monkeypatch, "check", copy)
    assert code == 1 and "fingerprint mismatch" in err and "Traceback" not in err
    assert "tasks/geoloc_rank/queries.parquet" in err  # the edited file is named


@pytest.mark.parametrize("cmd", [["info"], ["check"], ["plot", "--out", "map.png"]])
def test_commands_on_a_folder_that_is_not_ugdata(capsys, monkeypatch, tmp_path, cmd):
    (tmp_path / "notes.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(capsys, monkeypatch, cmd[0], tmp_path, *cmd[1:])
    line = _error_line(err)
    assert code == 2 and "is not a UGData directory" in line and "ugdata build --out" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
