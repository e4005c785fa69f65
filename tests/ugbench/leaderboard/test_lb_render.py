"""Rendering: Markdown and HTML escape every submitted string; the embedded JSON cannot break out."""

from __future__ import annotations

import html
import json
import re

import pytest
from lb_helpers import make_spec, random_scores, write_results

from ugbench.leaderboard import load_leaderboard, render, submit
from ugbench.leaderboard.render import embed_json, md_escape, page_data, ranked_entries

EVIL = "<script>alert(1)</script>"
EVIL_REV = '"><img src=x onerror=alert(2)>'
EVIL_REF = "javascript:alert(3)"


@pytest.fixture
def board(tmp_path):
    lb = tmp_path / "ugbench.json"
    spec = make_spec(tmp_path / "ugbench.benchmark.json")
    for i, name in enumerate(["alpha", "beta", EVIL, "{{JS}}</script><!--"]):
        write_results(tmp_path / "res", spec, name, random_scores(40 + i), revision=EVIL_REV if i == 2 else "r1")
    submit(tmp_path / "res", lb)
    return tmp_path, load_leaderboard(lb)


def test_markdown_table_ranks_by_family_mean_and_escapes(board):
    tmp, lb = board
    md_path, page_path = render(lb, tmp / "site")
    md = md_path.read_text()
    assert "<script>" not in md and "<img" not in md
    assert md_escape(EVIL) in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    expected = sorted(lb.entries, key=lambda e: -e.aggregates.mean_over_families)
    assert [r.split(" | ")[1] for r in rows] == [md_escape(e.model.name) for e in expected]
    assert page_path.is_file()


def test_html_embeds_json_safely_and_escapes_everything(board):
    tmp, lb = board
    _, page_path = render(lb, tmp / "site")
    page = page_path.read_text()
    assert EVIL not in page and EVIL_REV not in page
    assert page.count("</script>") == 2  # the data block's and the code block's, nothing from the data
    m = re.search(r'<script type="application/json" id="lb-data">(.*?)</script>', page, re.S)
    assert m is not None
    assert json.loads(m.group(1)) == json.loads(json.dumps(page_data(lb)))  # round-trips exactly
    assert "<" not in m.group(1) and ">" not in m.group(1)
    assert "Content-Security-Policy" in page and "'unsafe-inline'" not in page
    assert f"<title>{html.escape(lb.benchmark.name)}" in page


def test_embed_json_escapes_script_terminators():
    text = embed_json({"a": "</script><!-- & \u2028"})
    assert "</" not in text and "<!--" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_ranked_entries_put_partial_last(tmp_path):
    lb_path = tmp_path / "ugbench.json"
    spec = make_spec(tmp_path / "ugbench.benchmark.json")
    partial = random_scores(1)
    partial.pop(spec.tasks[0].name)
    partial = {k: 0.99 for k in partial}  # best scores, but partial: no rank
    write_results(tmp_path / "res", spec, "partial-model", partial)
    write_results(tmp_path / "res", spec, "full-model", random_scores(2))
    submit(tmp_path / "res", lb_path, partial=True)
    lb = load_leaderboard(lb_path)
    assert [e.model.name for e in ranked_entries(lb)] == ["full-model", "partial-model"]
    assert [e["rank"] for e in page_data(lb)["entries"]] == [1, None]
