"""`ugdata fetch mapillary` against a local stand-in of Mapillary's API v4 (ugdata/fetch/fake_mapillary.py,
documented response shapes only). No test touches the network."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ugdata.fetch.area import Area
from ugdata.fetch.fake_mapillary import EXPIRED_TOKEN, FakeMapillary
from ugdata.fetch.mapillary import (
    AuthError,
    FetchError,
    MapillaryOptions,
    equirect_to_perspective,
    fetch_mapillary,
    read_token,
)

BIN = Path(sys.executable).parent
BBOX = (24.930, 60.160, 24.950, 60.170)
AREA = Area(BBOX, {"bbox": list(BBOX)}, "helsinki")
M_LAT = 1 / 111_320  # degrees of latitude per metre


@pytest.fixture
def fake(httpserver):
    f = FakeMapillary()
    f.base = f.install(httpserver)
    return f


def opts(fake, **kw) -> MapillaryOptions:
    sleeps = kw.pop("sleeps", [])
    base = dict(api_url=fake.base, tiles_url=fake.base, min_spacing_m=0.0, backoff_s=0.01, workers=2,
                sleep=sleeps.append)
    return MapillaryOptions(**{**base, **kw})


def rows(out: Path) -> list[dict]:
    with open(out / "views.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def street(fake, n=8, seq="s1", lat0=60.1650, lon0=24.9400, step_m=10.0, id0=1000, **kw):
    for i in range(n):
        fake.add(str(id0 + i), lat0 + i * step_m * M_LAT, lon0, sequence=seq, heading=float(i * 10),
                 captured_at=1_622_548_800_000 + i * 1000, **kw)


def test_bbox_search_follows_pages_and_writes_the_table(fake, tmp_path):
    street(fake, n=8)  # page_size 3: three pages
    meta = fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox"))
    r = rows(tmp_path / "o")
    assert [x["id"] for x in r] == [str(1000 + i) for i in range(8)]
    assert fake.count("/images") == 3 and fake.count("/cdn/") == 8
    assert meta["requests"] == 11 and meta["complete"] is True and meta["counts"]["found"] == 8
    x = r[3]
    assert x["license"] == "CC BY-SA 4.0" and x["creator"] == "tester" and x["source"] == "mapillary"
    assert x["attribution_url"] == "https://www.mapillary.com/app/?pKey=1003"
    assert float(x["heading"]) == 30.0 and x["captured_at"] == "2021-06-01T12:00:03Z" and x["city"] == "helsinki"
    assert x["sequence"] == "s1" and x["is_pano"] == "false" and x["file"] == "1003.jpg"
    # the Graph API gets the token in the header only; the thumbnail CDN never sees it
    for path, args, headers in fake.requests:
        assert "access_token" not in args
        if path.startswith("/cdn/"):
            assert "Authorization" not in headers
        else:
            assert headers["Authorization"] == f"OAuth {fake.token}"
            assert "thumb_1024_url" in args.get("fields", "") and "creator" in args.get("fields", "")


def test_429_then_success_honours_retry_after(fake, tmp_path):
    street(fake, n=2)
    fake.fail["/images"] = [(429, {"Retry-After": "7"})]
    sleeps: list[float] = []
    meta = fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox", sleeps=sleeps))
    assert sleeps == [7.0] and len(rows(tmp_path / "o")) == 2
    assert meta["requests"] == 1 + 1 + 2  # the 429 counts against the budget


def test_500_then_success_backs_off_exponentially(fake, tmp_path):
    street(fake, n=2)
    fake.fail["/images"] = [(500, {}), (502, {})]
    sleeps: list[float] = []
    fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox", sleeps=sleeps, backoff_s=0.5))
    assert sleeps == [0.5, 1.0] and len(rows(tmp_path / "o")) == 2


def test_persistent_500_is_a_clear_error(fake, tmp_path):
    street(fake, n=2)
    fake.fail["/images"] = [(500, {})] * 10
    with pytest.raises(FetchError, match=r"image search failed: HTTP 500 after 5 tries") as e:
        fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox"))
    assert "\n" not in str(e.value)
    meta = json.loads((tmp_path / "o" / "fetch.json").read_text())
    assert meta["complete"] is False and "HTTP 500" in meta["stopped"]


@pytest.mark.parametrize("token", [EXPIRED_TOKEN, "MLY|not|valid"])
def test_expired_or_invalid_token(fake, tmp_path, token):
    street(fake, n=2)
    with pytest.raises(AuthError, match="dashboard/developers") as e:
        fetch_mapillary(AREA, tmp_path / "o", token, opts(fake, search="bbox"))
    assert token not in str(e.value)
    assert ("expired" in str(e.value)) == (token == EXPIRED_TOKEN)


def test_missing_token(monkeypatch, tmp_path):
    for v in ("MAPILLARY_TOKEN", "UG_MAPILLARY_TOKEN"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(AuthError, match=r"https://www\.mapillary\.com/dashboard/developers"):
        read_token(None)
    (tmp_path / "t").write_text("  MLY|abc|def\n")
    assert read_token(tmp_path / "t") == "MLY|abc|def"
    monkeypatch.setenv("UG_MAPILLARY_TOKEN", "MLY|env")
    assert read_token(None) == "MLY|env"
    (tmp_path / "e").write_text("\n")
    with pytest.raises(AuthError, match="empty"):
        read_token(tmp_path / "e")


def test_corrupt_and_cut_short_downloads_are_rejected_never_kept(fake, tmp_path):
    street(fake, n=6)
    fake.image_fault.update({"1001": "corrupt", "1002": "truncated", "1003": "short"})
    meta = fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox", attempts=2))
    assert [x["id"] for x in rows(tmp_path / "o")] == ["1000", "1004", "1005"]
    with open(tmp_path / "o" / "rejects.csv", newline="") as fh:
        rej = {x["id"]: x["reason"] for x in csv.DictReader(fh)}
    assert rej["1001"].startswith(("corrupt", "truncated")) and rej["1002"].startswith("truncated")
    assert rej["1003"].startswith("truncated")
    assert meta["counts"]["rejected"] == 3
    assert sorted(p.name for p in (tmp_path / "o" / "images").iterdir()) == ["1000.jpg", "1004.jpg", "1005.jpg"]


def test_tiles_search_thinning_dedup_and_empty_tiles(fake, tmp_path):
    # a street sequence 2 m apart (thinned to one per 5 m), one re-upload at the same pose (duplicate),
    # and tiles of the area without images (an empty tile, or 403 "tile does not exist")
    street(fake, n=10, step_m=2.0)
    fake.add("5000", 60.1650, 24.9400, heading=0.0, sequence="s2", captured_at=1_622_548_800_000)  # = 1000
    for missing_403 in (False, True):
        fake.missing_tile_403 = missing_403
        out = tmp_path / f"o{missing_403}"
        meta = fetch_mapillary(AREA, out, fake.token, opts(fake, search="tiles", min_spacing_m=5.0))
        ids = [x["id"] for x in rows(out)]
        assert ids == ["1000", "1003", "1006", "1009"]
        c = meta["counts"]
        assert c["found"] == 11 and c["duplicates"] == 1 and c["thinned"] == 6 and c["kept"] == 4
        assert meta["search"] == "tiles" and meta["parameters"]["search"] == "tiles"
    tile_reqs = [(a, h) for p, a, h in fake.requests if p.startswith("/maps/vtp/mly1_public/2/14/")]
    assert len(tile_reqs) >= 4 and all(a["access_token"] == fake.token for a, _ in tile_reqs)


def test_tile_positions_round_trip(fake, tmp_path):
    import mercantile

    from ugdata.fetch.mapillary import candidates_from_tile

    fake.add("42", 60.16543, 24.94321, heading=123.0, sequence="q", is_pano=True)
    t = mercantile.tile(24.94321, 60.16543, 14)
    resp = fake._tile(14, t.x, t.y)
    (c,) = candidates_from_tile(resp.get_data(), t.x, t.y)
    assert abs(c.lat - 60.16543) < 2e-5 and abs(c.lon - 24.94321) < 2e-5
    assert c.id == "42" and c.heading == 123.0 and c.sequence == "q" and c.is_pano
    assert c.captured_at == "2021-06-01T12:00:00Z"
    assert candidates_from_tile(b"", t.x, t.y) == []


def test_captured_date_filter_and_max(fake, tmp_path):
    street(fake, n=8)
    fake.add("9000", 60.1660, 24.9450, captured_at=1_500_000_000_000)  # 2017
    meta = fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="tiles", captured_after="2020-01-01",
                                                                   max_views=3))
    ids = [x["id"] for x in rows(tmp_path / "o")]
    assert len(ids) == 3 and "9000" not in ids and meta["counts"]["date_filtered"] == 1
    again = fetch_mapillary(AREA, tmp_path / "o2", fake.token, opts(fake, search="tiles", captured_after="2020-01-01",
                                                                    max_views=3))
    assert [x["id"] for x in rows(tmp_path / "o2")] == ids and again["counts"]["kept"] == 3


def test_panoramas_cut_at_headings_or_skipped(fake, tmp_path):
    fake.add("7000", 60.1650, 24.9400, heading=30.0, is_pano=True, sequence="p")
    fake.add("7001", 60.1660, 24.9410, heading=0.0, sequence="f")
    fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox"))
    r = {x["id"]: x for x in rows(tmp_path / "o")}
    assert sorted(r) == ["7000_h000", "7000_h090", "7000_h180", "7000_h270", "7001"]
    want = {"7000_h000": (30.0, (255, 0, 0)), "7000_h090": (120.0, (0, 255, 0)),
            "7000_h180": (210.0, (0, 0, 255)), "7000_h270": (300.0, (255, 255, 0))}
    for vid, (heading, color) in want.items():
        assert float(r[vid]["heading"]) == heading and float(r[vid]["fov"]) == 90.0 and r[vid]["is_pano"] == "true"
        img = np.asarray(Image.open(tmp_path / "o" / "images" / r[vid]["file"]).convert("RGB")).astype(float)
        centre = img[img.shape[0] // 2 - 4: img.shape[0] // 2 + 4, img.shape[1] // 2 - 4: img.shape[1] // 2 + 4]
        assert np.abs(centre.mean(axis=(0, 1)) - color).max() < 40, (vid, centre.mean(axis=(0, 1)))
    meta = fetch_mapillary(AREA, tmp_path / "n", fake.token, opts(fake, search="bbox", pano=False))
    assert [x["id"] for x in rows(tmp_path / "n")] == ["7001"] and meta["counts"]["panos_skipped"] == 1


def test_equirect_projection_geometry():
    pano = np.zeros((90, 360, 3), np.uint8)
    pano[:, :, 0] = np.arange(360)[None, :] * 255 // 359  # red encodes the column (yaw)
    view = equirect_to_perspective(pano, 0.0, 90.0, 64, 48)
    row = view[24, :, 0].astype(int)
    assert np.all(np.diff(row) >= 0)  # left to right = increasing yaw
    assert abs(int(view[24, 32, 0]) - 127) < 4  # centre looks at the centre column


def test_budget_stops_cleanly_and_a_rerun_resumes(fake, tmp_path):
    street(fake, n=6)
    o = opts(fake, search="bbox", max_requests=5, workers=1)
    with pytest.raises(FetchError, match="--max-requests 5"):
        fetch_mapillary(AREA, tmp_path / "o", fake.token, o)
    meta = json.loads((tmp_path / "o" / "fetch.json").read_text())
    assert meta["complete"] is False and meta["requests"] == 5 and len(rows(tmp_path / "o")) == 3
    before = fake.count("/cdn/")
    meta = fetch_mapillary(AREA, tmp_path / "o", fake.token, opts(fake, search="bbox"))
    assert meta["complete"] is True and len(rows(tmp_path / "o")) == 6 and meta["counts"]["resumed"] == 3
    assert fake.count("/cdn/") - before == 3  # only the missing ones


def _cli(fake, out: Path, *extra: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAPILLARY_TOKEN": fake.token, "UG_MAPILLARY_API": fake.base,
           "UG_MAPILLARY_TILES": fake.base, **(env_extra or {})}
    env.pop("UG_MAPILLARY_TOKEN", None)
    args = [str(BIN / "ugdata"), "fetch", "mapillary", "--bbox", ",".join(map(str, BBOX)), "--out", str(out),
            "--min-spacing-m", "0", "--workers", "1", *extra]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_killed_fetch_resumed_gives_the_same_table_and_token_never_in_outputs(fake, tmp_path):
    street(fake, n=6)
    fake.add("7000", 60.1650, 24.9400, heading=30.0, is_pano=True, sequence="p")
    full = _cli(fake, tmp_path / "full", "--search", "tiles")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = _cli(fake, tmp_path / "res", "--search", "tiles", env_extra={"UG_TEST_KILL_AT": "fetch:image#4"})
    assert killed.returncode == -9
    assert 0 < len((tmp_path / "res" / "journal.jsonl").read_text().splitlines()) < 10
    n_cdn = fake.count("/cdn/")
    resumed = _cli(fake, tmp_path / "res", "--search", "tiles")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (tmp_path / "res" / "views.csv").read_text() == (tmp_path / "full" / "views.csv").read_text()
    assert len(rows(tmp_path / "res")) == 10 and fake.count("/cdn/") - n_cdn < 7
    n_cdn = fake.count("/cdn/")
    again = _cli(fake, tmp_path / "res", "--search", "tiles")  # everything complete: no image downloaded
    assert again.returncode == 0 and fake.count("/cdn/") == n_cdn
    # the token (sent as a query parameter to the tiles) appears in no output and no message
    bad = _cli(fake, tmp_path / "bad", "--search", "tiles", env_extra={"MAPILLARY_TOKEN": "MLY|wrong|token"})
    assert bad.returncode == 2 and "dashboard/developers" in bad.stderr and "Traceback" not in bad.stderr
    assert "MLY|wrong|token" not in bad.stderr + bad.stdout
    for proc in (full, killed, resumed, again):
        assert fake.token not in proc.stdout + proc.stderr
    for root in (tmp_path / "full", tmp_path / "res", tmp_path / "bad"):
        for p in root.rglob("*"):
            if p.is_file():
                assert fake.token.encode() not in p.read_bytes(), p


def test_cli_user_mistakes_are_one_line(fake, tmp_path):
    for extra, msg in ((("--resolution", "512"), "256, 1024 or 2048"), (("--captured-after", "yesterday"), "not a date"),
                       (("--osm", str(tmp_path / "nope.osm")), "exactly one area")):
        p = _cli(fake, tmp_path / "o", *extra)
        assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_end_to_end_through_build_and_check(fake, tmp_path):
    """Views fetched at real street positions of the embedded Helsinki clip go through `ugdata build` and
    `ugdata check` (CLI, in-process)."""
    from typer.testing import CliRunner

    from ugdata.cli import app
    from ugdata.osm_source import load_osm
    from ugdata.testing import SMALL_CLIP

    g = load_osm(None, clip=SMALL_CLIP).graph
    pts = []
    for k, (u, v) in enumerate(sorted(g.edges())[:: max(1, g.number_of_edges() // 40)][:40]):
        a, b = g.nodes[u], g.nodes[v]
        pts.append((k, (a["y"] + b["y"]) / 2, (a["x"] + b["x"]) / 2))
    rng = np.random.default_rng(0)
    for k, lat, lon in pts:
        fake.add(str(3000 + k), lat, lon, heading=float(rng.uniform(0, 360)), sequence=f"s{k % 5}",
                 captured_at=1_622_548_800_000 + k * 60_000)
    fetch_mapillary(Area(SMALL_CLIP, {"bbox": list(SMALL_CLIP)}, "helsinki"), tmp_path / "mly", fake.token,
                    opts(fake, search="auto", min_spacing_m=5.0))
    n = len(rows(tmp_path / "mly"))
    assert n >= 30
    runner = CliRunner()
    res = runner.invoke(app, ["build", "--clip", ",".join(map(str, SMALL_CLIP)), "--views",
                              str(tmp_path / "mly" / "views.csv"), "--images", str(tmp_path / "mly" / "images"),
                              "--out", str(tmp_path / "data"), "--block-m", "100", "--buffer-m", "10"])
    assert res.exit_code == 0, res.output[-3000:]
    res = runner.invoke(app, ["check", str(tmp_path / "data")])
    assert res.exit_code == 0, res.output[-3000:]
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["counts"]["images"] >= n - 2
