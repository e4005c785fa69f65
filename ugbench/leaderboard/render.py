"""Render a leaderboard as Markdown and as one static HTML page that works offline from file://.

Every string that came from a submission is untrusted (a model may be named `<script>...`):
- Python side: html.escape on everything placed in HTML, Markdown escaping in the table;
- the data reaches the page as JSON inside `<script type="application/json">` with `<`, `>` and `&`
  written as \\u003c/\\u003e/\\u0026 (so `</script>` cannot close the block) and is put into the page by
  the inline script with textContent only, never innerHTML;
- a Content-Security-Policy allows only the page's own inline script and style (by hash), so even a
  mistake in the above could not run injected code.
The page holds its CSS and JS inline (no CDN, no network): page.html/page.css/page.js beside this file.

Statistics are computed here, in Python, and only drawn by the page: each score's 95% interval (from the
entries), the intervals of the means and whether each rank is distinguishable from the next
(ugbench/leaderboard/distinguish.py). Entries of older benchmark versions are history: listed apart, never
ranked.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from .distinguish import METHODS, PairTest, aggregate_intervals, neighbour_tests
from .models import Entry, Leaderboard
from .store import write_public_text

# characters that can start emphasis, code, links or strikethrough, or end a table cell ('<' and '>' are
# HTML-escaped first, so no raw HTML survives)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def ranking_key(e: Entry) -> tuple[int, float, float]:
    """Complete entries first, by mean over families then mean over tasks (both descending)."""
    a = e.aggregates
    return (
        0 if a.mean_over_families is not None else 1,
        -(a.mean_over_families if a.mean_over_families is not None else 0.0),
        -(a.mean_over_tasks if a.mean_over_tasks is not None else 0.0),
    )


def ranked_entries(lb: Leaderboard) -> list[Entry]:
    return sorted(lb.current_entries(), key=ranking_key)


def fmt(value: float | None) -> str:
    """Scores are shown x100 with two decimals (MTEB style); a missing value as an en dash."""
    return "–" if value is None else f"{100 * value:.2f}"


def fmt_ci(value: float | None, ci: list[float] | None) -> str:
    """A score x100 with the half-width of its 95% interval (`51.20 ±3.10`); the bare score without one."""
    if value is None or ci is None:
        return fmt(value)
    return f"{fmt(value)} ±{100 * (ci[1] - ci[0]) / 2:.2f}"


def vs_next_label(test: PairTest | None) -> str:
    """The Markdown / text form of a neighbour test: distinguishable or not, and by which method."""
    if test is None or test.distinguishable is None:
        return "–"
    return ("yes" if test.distinguishable else "no") + f" ({test.method})"


def md_escape(text: object) -> str:
    """Text safe in a Markdown table cell: HTML escaped, Markdown punctuation backslashed, one line."""
    s = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def render_markdown(lb: Leaderboard, tests: list[PairTest | None] | None = None) -> str:
    """The leaderboard as a Markdown table (ranked entries; scores with their 95% half-width; whether each rank
    is distinguishable from the next), then the entries of older benchmark versions as history."""
    spec = lb.benchmark
    entries = ranked_entries(lb)
    tests = tests if tests is not None else neighbour_tests(spec, entries)
    intervals = [aggregate_intervals(spec, e) for e in entries]
    fam_tasks = {f: [t.name for t in spec.tasks if t.family == f] for f in spec.families}
    head = ["Rank", "Model", "Revision", "Zero-shot", "Mean (tasks)", "Mean (families)", "Distinguishable from next"]
    head += [f"{f} (mean)" for f in spec.families]
    metric = {t.name: t.main_score for t in spec.tasks}
    head += [f"{f}: {t} ({metric[t]})" for f in spec.families for t in fam_tasks[f]]
    lines = [
        f"# {md_escape(spec.name)} {md_escape(spec.version)} leaderboard",
        "",
        md_escape(spec.description) if spec.description else "",
        "",
        "Scores are main scores x100 (each task's main metric in its header), ± the half-width of their 95% "
        "interval (bootstrap over queries; for means, the tasks' interval bounds averaged alike, a conservative "
        "bound). Mean (families) weighs each task family equally. A partial entry has no mean over what it lacks. "
        "Zero-shot: no task's data was in the model's training data. Distinguishable from next: whether the "
        "entry's mean over families differs from the next rank's at 95% (paired: a paired bootstrap over the "
        "same queries; paired+intervals: paired where per-query values exist, probe tasks by their intervals; "
        "overlap: the two intervals do not overlap).",
        "",
        "| " + " | ".join(md_escape(h) for h in head) + " |",
        "|" + "|".join(["---:"] + [":---"] * 3 + ["---:"] * (len(head) - 4)) + "|",
    ]
    for i, (e, iv, test) in enumerate(zip(entries, intervals, tests, strict=True), 1):
        a = e.aggregates
        rank = str(i) if not e.partial else "–"
        name = md_escape(e.model.name) + (f" (partial {a.n_tasks}/{a.n_declared_tasks})" if e.partial else "")
        row = [rank, name, md_escape(e.model.revision), "yes" if e.zero_shot else "no",
               fmt_ci(a.mean_over_tasks, iv["mean_over_tasks"]), fmt_ci(a.mean_over_families, iv["mean_over_families"]),
               vs_next_label(test)]
        row += [fmt_ci(a.per_family.get(f), iv["per_family"].get(f)) for f in spec.families]
        row += [(fmt_ci(e.scores[t].value, e.scores[t].ci95) if t in e.scores else fmt(None))
                + ("" if t not in e.scores or e.scores[t].zero_shot else " †") for f in spec.families for t in fam_tasks[f]]
        lines.append("| " + " | ".join(row) + " |")
    if not entries:
        lines.append("| " + " | ".join(["–"] * len(head)) + " |")
    older = len(lb.entries) - len(entries)
    lines += ["", "† the model was trained on this task's data (not zero-shot)."]
    if older:
        lines += [f"{older} entr{'y' if older == 1 else 'ies'} of older benchmark versions are kept in the "
                  "JSON file and not ranked here.", "",
                  "History (older benchmark versions: other task versions or data, not comparable with the table):", ""]
        lines += [f"- {md_escape(h['benchmark'])} {md_escape(h['benchmark_version'])}: {md_escape(h['model'])} "
                  f"({md_escape(h['revision'])}), mean over families {fmt(h['mean_over_families'])}, submitted "
                  f"{md_escape(h['submitted_at'][:10])}" for h in history(lb)]
    lines += ["", "Data: " + ", ".join(f"{md_escape(n)} = `{html.escape(d.fingerprint or 'unpinned')}`"
                                      for n, d in spec.datasets.items())]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def history(lb: Leaderboard) -> list[dict[str, Any]]:
    """The entries of older benchmark versions (history: kept in the file, never ranked), newest version first."""
    def vkey(v: str) -> tuple:
        return tuple(int(x) if x.isdigit() else -1 for x in v.split("."))

    old = [e for e in lb.entries if e.benchmark_version != lb.benchmark.version]
    old.sort(key=lambda e: (tuple(-x for x in vkey(e.benchmark_version)),
                            -(e.aggregates.mean_over_families or -1.0), e.model.name))
    return [{"benchmark": e.benchmark, "benchmark_version": e.benchmark_version, "model": e.model.name,
             "revision": e.model.revision, "partial": e.partial, "n_tasks": e.aggregates.n_tasks,
             "mean_over_tasks": e.aggregates.mean_over_tasks, "mean_over_families": e.aggregates.mean_over_families,
             "submitted_at": e.submitted_at} for e in old]


def page_data(lb: Leaderboard, tests: list[PairTest | None] | None = None) -> dict[str, Any]:
    """The data the page's script draws from (only what it shows). `tests`: the neighbour tests of the ranked
    entries (neighbour_tests); by default computed without per-query values (interval overlap)."""
    spec = lb.benchmark
    entries = ranked_entries(lb)
    tests = tests if tests is not None else neighbour_tests(spec, entries)
    nxt = {id(e): (entries[i + 1].model.name if i + 1 < len(entries) else None) for i, e in enumerate(entries)}
    return {
        "benchmark": {
            "name": spec.name, "version": spec.version, "description": spec.description,
            "families": spec.families,
            "tasks": [{"name": t.name, "family": t.family, "main_score": t.main_score, "version": t.version}
                      for t in spec.tasks],
        },
        "entries": [
            {
                "rank": i if not e.partial else None,
                "model": e.model.name,
                "revision": e.model.revision,
                "reference": e.model.reference,
                "n_parameters": e.model.n_parameters,
                "zero_shot": e.zero_shot,
                "partial": e.partial,
                "n_tasks": e.aggregates.n_tasks,
                "n_declared_tasks": e.aggregates.n_declared_tasks,
                "mean_over_tasks": e.aggregates.mean_over_tasks,
                "mean_over_families": e.aggregates.mean_over_families,
                "per_family": e.aggregates.per_family,
                "scores": {k: {"value": s.value, "zero_shot": s.zero_shot, "ci95": s.ci95} for k, s in e.scores.items()},
                "intervals": aggregate_intervals(spec, e),
                "vs_next": None if t is None else {**t.to_dict(), "next_model": nxt[id(e)]},
                "submitted_at": e.submitted_at,
            }
            for i, (e, t) in enumerate(zip(entries, tests, strict=True), 1)
        ],
        "methods": METHODS,
        "older_entries": len(lb.entries) - len(entries),
        "history": history(lb),
        "updated_at": lb.updated_at,
    }


def embed_json(obj: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives literally."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, sort_keys=True)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_html(lb: Leaderboard, tests: list[PairTest | None] | None = None) -> str:
    spec = lb.benchmark
    css, js = _asset("page.css"), _asset("page.js")
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    title = f"{spec.name} {spec.version} leaderboard"
    values = {
        "CSP": html.escape(csp, quote=True),
        "TITLE": html.escape(title),
        "DESCRIPTION": html.escape(spec.description),
        "DATA": embed_json(page_data(lb, tests)),
        "CSS": css,
        "JS": js,
    }
    # one pass over the template: a submitted string that reads "{{JS}}" is never expanded
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: values[m.group(1)], _asset("page.html"))


def render(lb: Leaderboard, out_dir: str | Path, *, results: list[Path] | None = None,
           seed: int = 0) -> tuple[Path, Path]:
    """Write leaderboard.md and index.html. `results`: folders holding the entries' results folders, whose
    per-query values let neighbouring ranks be compared by a paired test (else by interval overlap)."""
    out = Path(out_dir)
    md, page = out / "leaderboard.md", out / "index.html"
    tests = neighbour_tests(lb.benchmark, ranked_entries(lb), results=results, seed=seed)
    write_public_text(md, render_markdown(lb, tests))
    write_public_text(page, render_html(lb, tests))
    return md, page
