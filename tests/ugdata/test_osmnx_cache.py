"""osmnx's Overpass cache lives under the cache root, and a half-written answer (a download killed while
osmnx wrote it in place) is removed with a warning instead of failing every later online build."""

from __future__ import annotations

import json

from ugdata.osm_source import check_osmnx_cache, osmnx_cache_dir


def test_truncated_overpass_answer_is_dropped_with_a_warning(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("UG_CACHE", str(tmp_path / "cache"))
    cache = osmnx_cache_dir()
    assert cache == tmp_path / "cache" / "osmnx"
    cache.mkdir(parents=True)
    whole = cache / "a.json"
    whole.write_text(json.dumps({"elements": [1, 2, 3]}))
    half = cache / "b.json"
    half.write_text(json.dumps({"elements": [1, 2, 3]})[:9])
    assert check_osmnx_cache(cache) == [half]
    assert whole.is_file() and not half.exists()
    warned = [x for x in capfd.readouterr().err.splitlines() if x.startswith("warning:")]
    assert len(warned) == 1 and str(half) in warned[0]
