"""Same inputs and seed -> same fingerprint; a different seed -> a different dataset."""

from __future__ import annotations

import ugdata
from ugdata.build import build_ugdata


def test_same_seed_same_fingerprint(small_dir, tmp_path):
    from ugdata.testing import small_build

    again = small_build(tmp_path / "again", n_views=120, seed=0)
    assert ugdata.load(again).fingerprint == ugdata.load(small_dir).fingerprint


def test_seed_changes_fingerprint(tmp_path, town_osm):
    a = build_ugdata(tmp_path / "a", osm=[str(town_osm)], synth=12, render=False, seed=1, graphml=False)
    b = build_ugdata(tmp_path / "b", osm=[str(town_osm)], synth=12, render=False, seed=2, graphml=False)
    c = build_ugdata(tmp_path / "c", osm=[str(town_osm)], synth=12, render=False, seed=1, graphml=False)
    # the same file at another path is the same input
    import shutil

    moved = tmp_path / "elsewhere" / town_osm.name
    moved.parent.mkdir()
    shutil.copy(town_osm, moved)
    e = build_ugdata(tmp_path / "e", osm=[str(moved)], synth=12, render=False, seed=1, graphml=False)
    fa, fb, fc, fe = (ugdata.load(x).fingerprint for x in (a, b, c, e))
    assert fa == fc == fe and fa != fb
