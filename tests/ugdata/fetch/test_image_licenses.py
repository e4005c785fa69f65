"""Licences travel: per-image license/creator/attribution_url/provider from the views table into the dataset, the
card and the manifest; `ugdata check --require-license` fails images of unknown licence; synthetic builds keep
their schema and card (their pinned fingerprint: tests/ugbench/leaderboard/test_pinned_data_rebuilds.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from osv5m_layout import jpeg, street_points
from typer.testing import CliRunner

import ugdata
from ugdata import licenses as L
from ugdata.cli import app
from ugdata.testing import SMALL_CLIP
from ugdata.views.load import load_views

BBOX = ",".join(str(x) for x in SMALL_CLIP)


def _table(folder: Path, header: list[str], extra) -> Path:
    """A views table of 12 real-street points in SMALL_CLIP with images; extra(i) gives the extra cells."""
    imgs = folder / "imgs"
    imgs.mkdir(parents=True)
    path = folder / "views.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lat", "lon", "heading", *header])
        for i, (lat, lon, bearing) in enumerate(street_points(12)):
            (imgs / f"v{i:02d}.jpg").write_bytes(jpeg(i))
            w.writerow([f"v{i:02d}", f"{lat:.8f}", f"{lon:.8f}", f"{bearing:.1f}", *extra(i)])
    return path


def _build(table: Path, out: Path):
    res = CliRunner().invoke(app, ["build", "--views", str(table), "--images", str(table.parent / "imgs"),
                                   "--clip", BBOX, "--out", str(out), "--block-m", "100", "--buffer-m", "0"])
    assert res.exit_code == 0, res.output
    return out


def test_aliases_are_read(tmp_path):
    t = _table(tmp_path, ["licence", "author", "link", "provider"],
               lambda i: ["CC-BY-4.0", f"ann{i}", f"https://example.org/{i}", "mycam"] if i % 2 else ["", "", "", ""])
    rows = load_views(t, tmp_path / "imgs").rows.set_index("image_id")
    assert rows.loc["v01", "license"] == "CC-BY-4.0" and rows.loc["v01", "creator"] == "ann1"
    assert rows.loc["v01", "attribution_url"] == "https://example.org/1" and rows.loc["v01", "provider"] == "mycam"
    assert rows.loc["v00", "license"] == ""


def test_unknown_licences_fail_the_strict_check(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # rich: no wrapping inside the FAIL line
    t = _table(tmp_path, ["license", "creator", "source"],
               lambda i: ["CC BY-SA 4.0", f"m{i}", "mapillary"] if i < 8 else ["", "", ""])
    data = _build(t, tmp_path / "data")
    d = ugdata.load(data)
    v = d.views()
    n_unknown = int(v.license.isna().sum())
    assert 0 < n_unknown < len(v) and set(v.license.dropna()) == {"CC BY-SA 4.0"}
    assert d.manifest["licenses"] == L.summary(v.license.tolist())
    assert d.manifest["licenses"][L.UNKNOWN] == n_unknown
    card = (data / "README.md").read_text()
    assert "## Image licences and attribution" in card
    assert "- Mapillary: CC BY-SA 4.0" in card and "https://www.mapillary.com/app/?pKey=<image_id>" in card
    assert f"licence unknown, {n_unknown} images" in card
    plain = CliRunner().invoke(app, ["check", str(data)])
    assert plain.exit_code == 0, plain.output  # without the flag an unknown licence is not a failure
    strict = CliRunner().invoke(app, ["check", "--require-license", str(data)])
    assert strict.exit_code == 1, strict.output
    fails = [ln for ln in strict.output.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1
    example = v.image_id[v.license.isna()].iloc[0]
    assert f"licence unknown for {n_unknown} of {len(v)} images (e.g. {example})" in fails[0]
    assert "add a license" in strict.output


def test_table_without_licence_columns(tmp_path):
    t = _table(tmp_path, [], lambda i: [])
    data = _build(t, tmp_path / "data")
    v = ugdata.load(data).views()
    assert v.license.isna().all() and v.provider.isna().all()
    assert ugdata.load(data).manifest["licenses"] == {L.UNKNOWN: len(v)}
    assert CliRunner().invoke(app, ["check", "--require-license", str(data)]).exit_code == 1


def test_synthetic_build_is_known_and_unchanged(small_dir):
    d = ugdata.load(small_dir)
    assert "license" not in d.views().columns  # schema (and so the pinned fingerprint) unchanged
    assert d.manifest["licenses"] == {L.SYNTHETIC: d.manifest["counts"]["images"]}
    assert "Image licences" not in (small_dir / "README.md").read_text()
    res = CliRunner().invoke(app, ["check", "--require-license", str(small_dir)])
    assert res.exit_code == 0, res.output
    assert "synthetic" in res.output


@pytest.mark.parametrize("value, unknown", [("", True), (None, True), ("Unknown", True), (" n/a ", True),
                                            (float("nan"), True), ("CC BY-SA 4.0", False), ("CC0-1.0", False)])
def test_unknown_spellings(value, unknown):
    assert L.is_unknown(value) is unknown
