"""`ugbench evaluate` scores only the data its fingerprint names: a task file edited after the build (here the
positives moved to the front of every candidate list, which lifted random's hit@5 from .714 to 1.000) is
refused with one line naming the file and the fix, before any model runs; results carry data_verified."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from cli_checks import run_cli


def _cli(capsys, monkeypatch, *args) -> tuple[int, str]:
    code, _, err = run_cli(capsys, monkeypatch, "ugbench", *args)
    return code, err


def test_evaluate_refuses_an_edited_task_file(mock_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("UG_CACHE", str(tmp_path / "cache"))  # the stat cache of digests starts empty
    data = tmp_path / "data"
    shutil.copytree(mock_data, data)
    args = ("evaluate", "--model", "random", "--data", data, "--tasks", "geoloc_rank", "--quiet", "--no-cache")
    code, err = _cli(capsys, monkeypatch, *args, "--output", tmp_path / "ok")
    assert code == 0, err
    [doc] = [json.loads(p.read_text()) for p in (tmp_path / "ok").rglob("geoloc_rank.json")]
    assert doc["provenance"]["data_verified"] is True

    q = data / "tasks" / "geoloc_rank" / "queries.parquet"
    df = pd.read_parquet(q)
    df["candidate_ids"] = [list(p) + [c for c in cands if c not in set(p)]
                           for p, cands in zip(df.positive_ids, df.candidate_ids, strict=True)]
    df.to_parquet(q)
    code, err = _cli(capsys, monkeypatch, *args, "--output", tmp_path / "edited")
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code != 0 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "tasks/geoloc_rank/queries.parquet" in lines[0] and "ugdata build" in lines[0], lines[0]
    assert not list((tmp_path / "edited").rglob("geoloc_rank.json"))
