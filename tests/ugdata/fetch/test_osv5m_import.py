"""`ugdata fetch osv5m`: area filter over streamed metadata, only the matching zip members read, licences and
attribution per image, resumable, and the output through `ugdata build` and `ugdata check --require-license`.
Offline: the OSV-5M copy is written by osv5m_layout.make_osv5m."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from osv5m_layout import make_osv5m
from typer.testing import CliRunner

from ugcore.errors import UserError
from ugdata.cli import app
from ugdata.fetch.area import Area
from ugdata.fetch.osv5m import INDEX_DIR, fetch_osv5m
from ugdata.testing import SMALL_CLIP

BBOX = ",".join(str(x) for x in SMALL_CLIP)
AREA = Area(SMALL_CLIP, {"bbox": list(SMALL_CLIP)})


@pytest.fixture(scope="module")
def osv(tmp_path_factory):
    return make_osv5m(tmp_path_factory.mktemp("osv5m") / "osv5m")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _fetch(args: list[str]):
    res = CliRunner().invoke(app, ["fetch", "osv5m", *args])
    return res


def test_import_keeps_the_area_and_attributes_each_image(osv, tmp_path):
    out = tmp_path / "out"
    res = _fetch(["--root", str(osv.root), "--bbox", BBOX, "--out", str(out)])
    assert res.exit_code == 0, res.output
    views = {r["id"]: r for r in _rows(out / "views.csv")}
    assert set(views) == set(osv.train_ok) | set(osv.test_ok)  # not: outside, bad coords, thinned, corrupt, missing
    for vid, r in views.items():
        assert r["source"] == "osv5m"
        assert r["license"] == "CC BY-SA 4.0"
        assert r["creator"] == osv.creators[vid]
        assert r["attribution_url"] == f"https://www.mapillary.com/app/?pKey={vid}"
        assert r["heading"] == ""  # OSV-5M has no compass angle
        assert r["captured_at"].startswith("2021-07-01T12:00:")
        assert (out / "images" / r["file"]).is_file()
    assert sorted(p.stem for p in (out / "images").iterdir()) == sorted(views)  # nothing else written
    rej = {r["id"]: r["reason"] for r in _rows(out / "rejects.csv")}
    assert set(rej) == {osv.corrupt, osv.missing}
    assert rej[osv.corrupt].startswith("corrupt:")
    assert rej[osv.missing].startswith("missing:") and "no shard of images/train" in rej[osv.missing]
    meta = json.loads((out / "fetch.json").read_text())
    assert meta["complete"] is True and meta["source"] == "osv5m"
    c = meta["counts"]
    assert c["bad_coordinates"] == osv.bad_coordinates == 3
    assert c["thinned"] == len(osv.thinned) == 2
    assert c["kept"] == len(views) and c["rejected"] == 2
    assert meta["licenses"] == {"CC BY-SA 4.0": len(views)}
    # the shard index is cached beside the output, one file per shard
    assert len(list((out / INDEX_DIR).glob("*.txt"))) == 3


def test_streaming_chunks_and_the_shard_index_cache(osv, tmp_path, monkeypatch):
    a = fetch_osv5m(osv.root, AREA, tmp_path / "a", chunk_rows=1_000_000)
    b = fetch_osv5m(osv.root, AREA, tmp_path / "b", chunk_rows=4)  # chunk borders everywhere: same result
    assert (tmp_path / "a" / "views.csv").read_bytes() == (tmp_path / "b" / "views.csv").read_bytes()
    assert a["counts"] == b["counts"]
    # resume: an image lost from the output is read again, from the cached index (no central directory walk)
    lost = sorted((tmp_path / "b" / "images").iterdir())[0]
    lost.unlink()

    def no_listing(self):
        raise AssertionError("the shard index should come from the cache")

    monkeypatch.setattr(zipfile.ZipFile, "infolist", no_listing)
    c = fetch_osv5m(osv.root, AREA, tmp_path / "b", chunk_rows=4)
    assert c["counts"]["resumed"] == c["counts"]["kept"] - 1
    assert lost.is_file()
    assert (tmp_path / "a" / "views.csv").read_bytes() == (tmp_path / "b" / "views.csv").read_bytes()


def test_changed_shard_is_listed_again(osv, tmp_path):
    fetch_osv5m(osv.root, AREA, tmp_path / "o", split="test")
    cached = next((tmp_path / "o" / INDEX_DIR).glob("*.txt"))
    cached.write_text("# 0 0\nstale.jpg\n")  # a stamp that no longer matches the shard
    for p in (tmp_path / "o" / "images").iterdir():
        p.unlink()
    meta = fetch_osv5m(osv.root, AREA, tmp_path / "o", split="test")
    assert meta["counts"]["kept"] == len(osv.test_ok)
    assert "stale.jpg" not in cached.read_text()


def test_split_max_and_spacing(osv, tmp_path):
    m = fetch_osv5m(osv.root, AREA, tmp_path / "t", split="test")
    assert {r["id"] for r in _rows(tmp_path / "t" / "views.csv")} == set(osv.test_ok)
    assert m["counts"]["bad_coordinates"] == 0  # train.csv was not read
    m = fetch_osv5m(osv.root, AREA, tmp_path / "all", min_spacing_m=0)
    ids = {r["id"] for r in _rows(tmp_path / "all" / "views.csv")}
    assert set(osv.thinned) <= ids and m["counts"]["thinned"] == 0
    m1 = fetch_osv5m(osv.root, AREA, tmp_path / "m1", max_views=5)
    fetch_osv5m(osv.root, AREA, tmp_path / "m2", max_views=5)
    picked = {r["id"] for r in _rows(tmp_path / "m1" / "views.csv")}
    assert picked == {r["id"] for r in _rows(tmp_path / "m2" / "views.csv")}  # deterministic
    assert len(picked) + m1["counts"]["rejected"] == 5


def test_bad_roots_and_arguments(osv, tmp_path):
    with pytest.raises(UserError, match="not an OSV-5M copy: missing train.csv"):
        fetch_osv5m(tmp_path, AREA, tmp_path / "o")
    with pytest.raises(UserError, match="folder not found"):
        fetch_osv5m(tmp_path / "nope", AREA, tmp_path / "o")
    with pytest.raises(UserError, match="--split"):
        fetch_osv5m(osv.root, AREA, tmp_path / "o", split="val")
    res = _fetch(["--root", str(osv.root), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "exactly one area" in str(res.exception)


def test_end_to_end_build_and_strict_licence_check(osv, tmp_path):
    out = tmp_path / "osv"
    assert _fetch(["--root", str(osv.root), "--bbox", BBOX, "--out", str(out)]).exit_code == 0
    data = tmp_path / "data"
    res = CliRunner().invoke(app, ["build", "--views", str(out / "views.csv"), "--images", str(out / "images"),
                                   "--clip", BBOX, "--out", str(data), "--block-m", "100", "--buffer-m", "0"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["check", "--require-license", str(data)])
    assert res.exit_code == 0, res.output
    import ugdata

    d = ugdata.load(data)
    v = d.views()
    assert set(v.license) == {"CC BY-SA 4.0"} and set(v.provider) == {"osv5m"}
    assert all(u == f"https://www.mapillary.com/app/?pKey={i}" for i, u in zip(v.image_id, v.attribution_url, strict=True))
    assert d.manifest["licenses"] == {"CC BY-SA 4.0": len(v)}
    card = (data / "README.md").read_text()
    assert f"OpenStreetView-5M (OSV-5M): CC BY-SA 4.0, {len(v)} images" in card
