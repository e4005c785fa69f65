"""Render a leaderboard as Markdown and as one static HTML page that works offline from file://.

Every string that came from a submission is untrusted (a model may be named `<script>...`):
- Python side: html.escape on everything placed in HTML, Markdown escaping in the table;
- the data reaches the page as JSON inside `<script type="application/json">` with `<`, `>` and `&`
  written as \\u003c/\\u003e/\\u0026 (so `</script>` cannot close the block) and is put into the page by
  the inline script with textContent only, never innerHTML;
- a Content-Security-Policy allows only the page's own inline script and style (by hash), so even a
  mistake in the above could not run injected code.
The page holds its CSS and JS inline (no CDN, no network): page.html/page.css/page.js beside this file.
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


def md_escape(text: object) -> str:
    """Text safe in a Markdown table cell: HTML escaped, Markdown punctuation backslashed, one line."""
    s = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def render_markdown(lb: Leaderboard) -> str:
    spec = lb.benchmark
    entries = ranked_entries(lb)
    fam_tasks = {f: [t.name for t in spec.tasks if t.family == f] for f in spec.families}
    head = ["Rank", "Model", "Revision", "Zero-shot", "Mean (tasks)", "Mean (families)"]
    head += [f"{f} (mean)" for f in spec.families]
    metric = {t.name: t.main_score for t in spec.tasks}
    head += [f"{f}: {t} ({metric[t]})" for f in spec.families for t in fam_tasks[f]]
    lines = [
        f"# {md_escape(spec.name)} {md_escape(spec.version)} leaderboard",
        "",
        md_escape(spec.description) if spec.description else "",
        "",
        "Scores are main scores x100 (each task's main metric in its header). Mean (families) weighs each task family equally. A partial entry has no mean over what it lacks. "
        "Zero-shot: no task's data was in the model's training data.",
        "",
        "| " + " | ".join(md_escape(h) for h in head) + " |",
        "|" + "|".join(["---:"] + [":---"] * 3 + ["---:"] * (len(head) - 4)) + "|",
    ]
    for i, e in enumerate(entries, 1):
        a = e.aggregates
        rank = str(i) if not e.partial else "–"
        name = md_escape(e.model.name) + (f" (partial {a.n_tasks}/{a.n_declared_tasks})" if e.partial else "")
        row = [rank, name, md_escape(e.model.revision), "yes" if e.zero_shot else "no",
               fmt(a.mean_over_tasks), fmt(a.mean_over_families)]
        row += [fmt(a.per_family.get(f)) for f in spec.families]
        row += [fmt(e.scores[t].value if t in e.scores else None) + ("" if t not in e.scores or
                e.scores[t].zero_shot else " †") for f in spec.families for t in fam_tasks[f]]
        lines.append("| " + " | ".join(row) + " |")
    if not entries:
        lines.append("| " + " | ".join(["–"] * len(head)) + " |")
    older = len(lb.entries) - len(entries)
    lines += ["", "† the model was trained on this task's data (not zero-shot)."]
    if older:
        lines.append(f"{older} entr{'y' if older == 1 else 'ies'} of older benchmark versions are kept in the "
                     "JSON file and not ranked here.")
    lines += ["", "Data: " + ", ".join(f"{md_escape(n)} = `{html.escape(d.fingerprint or 'unpinned')}`"
                                      for n, d in spec.datasets.items())]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def page_data(lb: Leaderboard) -> dict[str, Any]:
    """The data the page's script draws from (only what it shows)."""
    spec = lb.benchmark
    entries = ranked_entries(lb)
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
                "scores": {k: {"value": s.value, "zero_shot": s.zero_shot} for k, s in e.scores.items()},
                "submitted_at": e.submitted_at,
            }
            for i, e in enumerate(entries, 1)
        ],
        "older_entries": len(lb.entries) - len(entries),
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


def render_html(lb: Leaderboard) -> str:
    spec = lb.benchmark
    css, js = _asset("page.css"), _asset("page.js")
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    title = f"{spec.name} {spec.version} leaderboard"
    values = {
        "CSP": html.escape(csp, quote=True),
        "TITLE": html.escape(title),
        "DESCRIPTION": html.escape(spec.description),
        "DATA": embed_json(page_data(lb)),
        "CSS": css,
        "JS": js,
    }
    # one pass over the template: a submitted string that reads "{{JS}}" is never expanded
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: values[m.group(1)], _asset("page.html"))


def render(lb: Leaderboard, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    md, page = out / "leaderboard.md", out / "index.html"
    write_public_text(md, render_markdown(lb))
    write_public_text(page, render_html(lb))
    return md, page
