"""Bars and radar from a leaderboard made by the leaderboard package itself (submit -> leaderboard JSON)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fig_helpers import MODELS, check_png, colour_pixels

from ugbench.figures import family_bars, radar
from ugbench.figures.leaderboard_charts import bars_figsize, family_table, radar_figsize
from ugbench.figures.render import color
from ugbench.leaderboard import load_leaderboard
from ugbench.leaderboard.render import ranked_entries
from ugcore.errors import UserError


def test_family_table_is_the_leaderboards_own_aggregates(leaderboard):
    t = family_table(leaderboard)
    lb = load_leaderboard(leaderboard)
    entries = ranked_entries(lb)
    assert t.families == lb.benchmark.families and len(t.families) == 4
    assert t.models == [e.model.name for e in entries] and sorted(t.models) == sorted(MODELS)
    for e, row in zip(entries, t.values, strict=True):
        want = [np.nan if e.aggregates.per_family[f] is None else 100 * e.aggregates.per_family[f] for f in t.families]
        np.testing.assert_allclose(row, want)
    gamma = t.models.index("gamma-partial")
    assert t.partial[gamma] and np.isnan(t.values[gamma]).sum() == 1  # the missing family is n/a, not 0


def test_bars_draw_every_model(leaderboard, tmp_path):
    out = family_bars(leaderboard, tmp_path / "bars.png")
    rgb = check_png(out, bars_figsize(3, 4))
    for i in range(3):
        assert colour_pixels(rgb, color(i)) > 500, f"no bar of model {i} drawn"


def test_radar_draws_every_model(leaderboard, tmp_path):
    out = radar(leaderboard, tmp_path / "radar.png")
    rgb = check_png(out, radar_figsize(3))
    for i in range(3):
        assert colour_pixels(rgb, color(i)) > 50, f"no outline of model {i} drawn"


@pytest.mark.parametrize("content, match", [
    (None, "not found"),
    ("{not json", "not valid JSON"),
    (json.dumps({"schema_version": "1.0", "entries": []}), "does not follow"),
])
def test_bad_leaderboard_is_a_user_error(tmp_path, content, match):
    p = tmp_path / "lb.json"
    if content is not None:
        p.write_text(content)
    for fn in (family_bars, radar):
        with pytest.raises(UserError, match=match):
            fn(p, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
