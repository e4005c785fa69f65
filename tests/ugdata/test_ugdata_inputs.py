"""OSM inputs (XML, bz2, gz, PBF, clip), anchoring geometry, real views, and bad inputs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from ugdata_town import DLAT, DLON, LAT0, LON0, write_town

import ugdata
from ugcore.errors import UserError
from ugdata.build import build_ugdata
from ugdata.osm_source import load_osm


@pytest.mark.parametrize("compression", ["", "gz"])
def test_xml_variants_load_the_same_town(tmp_path, compression):
    d = load_osm(write_town(tmp_path, compression=compression))
    assert d.city == "town"
    names = {n for _, _, n in d.graph.edges(data="name")}
    assert names == {f"Rivi {i}" for i in range(4)} | {f"Katu {i}" for i in range(4)}
    f = d.features
    assert set(f[f.kind == "poi"].name) == {"Cafe Aalto", "Kirjasto", "Ruokakauppa", "Apteekki", "Baari"}
    assert (f.kind == "park").sum() == 1 and (f.kind == "building").sum() == 2


def test_clip_embedded_pbf():
    from ugdata.testing import SMALL_CLIP

    d = load_osm(None, clip=SMALL_CLIP)
    w, s, e, n = SMALL_CLIP
    xs = np.array([a["x"] for _, a in d.graph.nodes(data=True)])
    ys = np.array([a["y"] for _, a in d.graph.nodes(data=True)])
    assert ((xs >= w - 1e-3) & (xs <= e + 1e-3) & (ys >= s - 1e-3) & (ys <= n + 1e-3)).all()
    assert d.source.startswith("embedded:helsinki")


def test_anchoring_geometry(tmp_path):
    """A point 10 m north of the east-running street Rivi 1 snaps at 10 m, on its left side."""
    from ugdata.anchor import anchor_points, relative_heading
    from ugdata.streets import build_street_layer

    layer = build_street_layer(load_osm(write_town(tmp_path)).graph)
    lat = np.array([LAT0 + DLAT + 10 / 111_195.0, LAT0 + DLAT - 7 / 111_195.0, LAT0 + 5.0])
    lon = np.array([LON0 + 1.5 * DLON, LON0 + 2.5 * DLON, LON0])
    a = anchor_points(layer, lon, lat, max_snap_m=25)
    names = layer.segs.name.to_numpy()[a.seg]
    assert names[0] == "Rivi 1" and names[1] == "Rivi 1"
    assert abs(a.snap_m[0] - 10) < 0.3 and abs(a.snap_m[1] - 7) < 0.3
    assert a.side[0] == "left" and a.side[1] == "right"
    assert abs(((a.street_bearing[0] - 90 + 180) % 360) - 180) < 2  # east
    assert a.ok.tolist() == [True, True, False]
    assert abs(relative_heading(180.0, a.street_bearing[0]) - 90) < 2


def _views_fixture(tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rows = []
    for k in range(12):
        # along Katu 1 (north-running, primary) and Rivi 2, a few metres off the centreline
        if k < 6:
            lat, lon = LAT0 + (0.3 + 0.4 * k) * DLAT, LON0 + DLON + 4 / 55_600.0
        else:
            lat, lon = LAT0 + 2 * DLAT + 3 / 111_195.0, LON0 + (0.3 + 0.4 * (k - 6)) * DLON
        Image.fromarray(np.full((32, 32, 3), 20 * k, dtype=np.uint8)).save(imgs / f"v{k}.png")
        rows.append({"id": f"v{k}", "lat": lat, "lon": lon, "heading": (37 * k) % 360})
    rows.append({"id": "far", "lat": LAT0 + 0.05, "lon": LON0 + 0.05, "heading": 0})
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(imgs / "far.png")
    (imgs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    rows.append({"id": "broken", "lat": LAT0 + DLAT, "lon": LON0 + DLON, "heading": 0})
    table = tmp_path / "views.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table, imgs


def test_real_views_with_rejects(tmp_path, town_osm):
    table, imgs = _views_fixture(tmp_path)
    out = build_ugdata(tmp_path / "o", osm=[str(town_osm)], views=str(table), images=str(imgs),
                       block_m=100, buffer_m=0, graphml=False)
    d = ugdata.load(out)
    v = d.views()
    assert len(v) == 12 and not v.synthetic.any()
    rej = pd.read_csv(out / "rejects.csv")
    far = rej[rej.image_id == "far"]
    assert len(far) == 1 and far.stage.iloc[0] == "anchor" and "max-snap-m" in far.reason.iloc[0]
    assert "broken" in set(rej.image_id)
    # real bytes are embedded unchanged
    src = (imgs / "v3.png").read_bytes()
    pq = pd.concat([pd.read_parquet(out / "parquet" / f"{s}.parquet") for s in ("train", "val", "test")])
    assert pq.set_index("image_id").loc["v3", "image"]["bytes"] == src
    k1 = v[v.image_id.isin([f"v{k}" for k in range(6)])]
    assert set(k1.street_name) == {"Katu 1"} and set(k1.street_class) == {"primary"}
    assert np.allclose(k1.snap_distance_m, 4, atol=0.3)


def test_all_views_far_fails_cleanly(tmp_path, town_osm):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(imgs / "a.png")
    table = tmp_path / "v.csv"
    pd.DataFrame([{"id": "a", "lat": LAT0 + 1, "lon": LON0 + 1}]).to_csv(table, index=False)
    with pytest.raises(UserError, match="no usable street views"):
        build_ugdata(tmp_path / "o", osm=[str(town_osm)], views=str(table), images=str(imgs))
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.")]


def _truncated_pbf(tmp_path):
    from ugdata.osm_source import embedded_pbf

    data = embedded_pbf().read_bytes()
    p = tmp_path / "cut.osm.pbf"
    p.write_bytes(data[: len(data) // 3])
    return p


@pytest.mark.parametrize("kind", ["empty", "truncated_xml", "truncated_pbf", "streetless", "garbage_pbf",
                                  "missing", "extension"])
def test_bad_osm_inputs(tmp_path, kind):
    if kind == "empty":
        p = tmp_path / "e.osm"
        p.write_bytes(b"")
    elif kind == "truncated_xml":
        full = write_town(tmp_path, "t").read_bytes()
        p = tmp_path / "cut.osm"
        p.write_bytes(full[: len(full) // 2])
    elif kind == "truncated_pbf":
        p = _truncated_pbf(tmp_path)
    elif kind == "streetless":
        p = write_town(tmp_path, "nostreets", with_streets=False)
    elif kind == "garbage_pbf":
        p = tmp_path / "g.osm.pbf"
        p.write_bytes(b"\x00\x01garbage" * 100)
    elif kind == "missing":
        p = tmp_path / "nope.osm"
    else:
        p = tmp_path / "x.shp"
        p.write_bytes(b"abc")
    out = tmp_path / "out"
    with pytest.raises(UserError) as ei:
        build_ugdata(out, osm=[str(p)], synth=5, render=False)
    msg = str(ei.value)
    assert str(p) in msg and "\n" not in msg
    assert not out.exists()


def test_existing_output_kept(tmp_path, town_osm):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists"):
        build_ugdata(out, osm=[str(town_osm)], synth=5)
    # a failing overwrite leaves the old directory as it was
    bad = tmp_path / "bad.osm"
    bad.write_bytes(b"<osm>")
    with pytest.raises(UserError):
        build_ugdata(out, osm=[str(bad)], synth=5, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"


def test_offline_place_fails_fast(monkeypatch, tmp_path):
    import socket

    def refuse(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(UserError, match="unreachable"):
        build_ugdata(tmp_path / "o", place="Helsinki, Finland", synth=5)


def test_cli_one_line_error_and_exit_code(tmp_path):
    p = tmp_path / "e.osm.bz2"
    p.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "ugdata.cli", "build", "--osm", str(p), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "e.osm.bz2" in lines[0] and "empty" in lines[0]
    assert "Traceback" not in r.stderr
    assert shutil.which("true")  # sanity: subprocess environment works
