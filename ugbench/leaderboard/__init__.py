"""The UGBench leaderboard: validate and submit results, recompute aggregates, render a static page.

Public API:
- submit(results_dir, leaderboard, *, benchmark=None, replace=False, partial=False) -> list[Entry]
- prepare_entries(results_dir, spec, ...) -> list[Entry] (checks only; raises SubmissionRejected)
- load_leaderboard(path), load_benchmark(path), render(leaderboard, out_dir), json_schema()
- Leaderboard, Entry, BenchmarkSpec (pydantic models of leaderboards/*.json)
"""

from .benchmark import declare, load_benchmark, registry_tasks, write_benchmark
from .models import LEADERBOARD_SCHEMA_VERSION, BenchmarkSpec, Entry, Leaderboard, json_schema
from .render import render, render_html, render_markdown
from .store import load_leaderboard, update_leaderboard
from .submit import SubmissionRejected, prepare_entries, submit

__all__ = [
    "LEADERBOARD_SCHEMA_VERSION", "BenchmarkSpec", "Entry", "Leaderboard", "SubmissionRejected", "declare",
    "json_schema", "load_benchmark", "load_leaderboard", "prepare_entries", "registry_tasks", "render",
    "render_html", "render_markdown", "submit", "update_leaderboard", "write_benchmark",
]
