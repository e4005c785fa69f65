"use strict";
// Draws the leaderboard table and chart from the JSON block #lb-data. Submitted strings are untrusted:
// they only ever reach the page through textContent / setAttribute on fixed attribute names, never innerHTML.
(function () {
  const data = JSON.parse(document.getElementById("lb-data").textContent);
  const bench = data.benchmark;
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#d4490f", "#6e7781",
                   "#a40e26", "#116329"];
  const familyTasks = {};
  bench.families.forEach(function (f) {
    familyTasks[f] = bench.tasks.filter(function (t) { return t.family === f; });
  });
  const entries = data.entries.map(function (e, i) { return Object.assign({ _order: i }, e); });

  // Columns: key, header, group, value(entry) -> number|string|null, kind.
  const columns = [
    { key: "rank", label: "Rank", group: "", kind: "num", value: function (e) { return e.rank; } },
    { key: "vs_next", label: "vs. next", group: "", kind: "text", title: "Is this rank distinguishable from the "
      + "next one (mean over families, 95%)?", value: function (e) { return sepValue(e); } },
    { key: "model", label: "Model", group: "", kind: "text", value: function (e) { return e.model; } },
    { key: "zero_shot", label: "Zero-shot", group: "", kind: "text",
      value: function (e) { return e.zero_shot ? "yes" : "no"; } },
    { key: "n_parameters", label: "Parameters", group: "", kind: "num",
      value: function (e) { return e.n_parameters; } },
    { key: "mean_over_tasks", label: "Mean (tasks)", group: "Means", kind: "score",
      value: function (e) { return e.mean_over_tasks; },
      ci: function (e) { return e.intervals ? e.intervals.mean_over_tasks : null; } },
    { key: "mean_over_families", label: "Mean (families)", group: "Means", kind: "score",
      value: function (e) { return e.mean_over_families; },
      ci: function (e) { return e.intervals ? e.intervals.mean_over_families : null; } },
  ];
  bench.families.forEach(function (f) {
    columns.push({ key: "family:" + f, label: f, group: "Family means", kind: "score",
                   value: function (e) { const v = e.per_family[f]; return v === undefined ? null : v; },
                   ci: function (e) { return familyCi(e, f); } });
  });
  bench.families.forEach(function (f) {
    familyTasks[f].forEach(function (t) {
      columns.push({ key: "task:" + t.name, label: t.name, title: t.main_score + " (v" + t.version + ")",
                     group: f, kind: "score", task: t.name,
                     value: function (e) { const s = e.scores[t.name]; return s ? s.value : null; },
                     ci: function (e) { const s = e.scores[t.name]; return s && s.ci95 ? s.ci95 : null; } });
    });
  });

  const state = { key: "rank", dir: "asc", zeroShotOnly: false };

  function familyCi(e, f) {
    const iv = e.intervals && e.intervals.per_family ? e.intervals.per_family[f] : null;
    return iv === undefined ? null : iv;
  }

  // Distinguishability of an entry from the next rank, computed in Python (ugbench/leaderboard/distinguish.py).
  function sepValue(e) {
    const t = e.vs_next;
    if (!t || t.distinguishable === null || t.distinguishable === undefined) return null;
    return t.distinguishable ? "yes" : "no";
  }

  function sepTitle(e) {
    const t = e.vs_next;
    const parts = ["vs. " + t.next_model + ": mean over families " + (t.difference >= 0 ? "+" : "") +
                   (100 * t.difference).toFixed(2)];
    if (t.ci95) parts.push("95% CI of the difference [" + (100 * t.ci95[0]).toFixed(2) + ", " +
                           (100 * t.ci95[1]).toFixed(2) + "]");
    if (t.p_value !== null && t.p_value !== undefined) parts.push("p = " + t.p_value.toFixed(4));
    parts.push("method: " + (data.methods[t.method] || t.method));
    if (t.note) parts.push(t.note);
    return parts.join("; ");
  }

  function halfWidth(ci) {
    return "\u00b1" + (100 * (ci[1] - ci[0]) / 2).toFixed(2);
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function fmt(col, v) {
    if (v === null || v === undefined) return "\u2013";
    if (col.kind === "score") return (100 * v).toFixed(2);
    if (col.key === "n_parameters") {
      if (v >= 1e9) return (v / 1e9).toFixed(1) + "B";
      if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
      if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
    }
    return String(v);
  }

  function safeHref(ref) {
    // Only http(s) links: a submitted "javascript:" reference stays plain text.
    if (typeof ref !== "string") return null;
    try {
      const u = new URL(ref);
      return (u.protocol === "https:" || u.protocol === "http:") ? u.href : null;
    } catch (err) {
      return null;
    }
  }

  function buildHead() {
    const thead = document.querySelector("#leaderboard thead");
    const groups = el("tr");
    const cols = el("tr");
    let i = 0;
    while (i < columns.length) {
      let span = 1;
      while (i + span < columns.length && columns[i + span].group === columns[i].group) span += 1;
      const th = el("th", columns[i].group, "group");
      th.setAttribute("colspan", String(span));
      th.setAttribute("scope", "colgroup");
      groups.appendChild(th);
      i += span;
    }
    columns.forEach(function (col) {
      const th = el("th", null, "col");
      th.setAttribute("scope", "col");
      th.dataset.key = col.key;
      const b = el("button", col.label);
      b.type = "button";
      if (col.title) b.title = col.title;
      b.addEventListener("click", function () { sortBy(col.key); });
      th.appendChild(b);
      cols.appendChild(th);
    });
    thead.appendChild(groups);
    thead.appendChild(cols);
  }

  function compare(col, dir) {
    return function (a, b) {
      const va = col.value(a), vb = col.value(b);
      const na = va === null || va === undefined, nb = vb === null || vb === undefined;
      if (na || nb) return na === nb ? a._order - b._order : (na ? 1 : -1); // missing values last
      let c = col.kind === "text" ? String(va).localeCompare(String(vb)) : va - vb;
      if (dir === "desc") c = -c;
      return c !== 0 ? c : a._order - b._order;
    };
  }

  function sortBy(key) {
    const col = columns.find(function (c) { return c.key === key; });
    if (state.key === key) state.dir = state.dir === "asc" ? "desc" : "asc";
    else { state.key = key; state.dir = (col.kind === "text" || key === "rank") ? "asc" : "desc"; }
    render();
  }

  function visible() {
    return entries.filter(function (e) { return !state.zeroShotOnly || e.zero_shot; });
  }

  function buildBody(rows) {
    const tbody = document.querySelector("#leaderboard tbody");
    tbody.replaceChildren();
    rows.forEach(function (e) {
      const tr = el("tr", null, e.partial ? "entry partial" : "entry");
      tr.dataset.zeroShot = e.zero_shot ? "true" : "false";
      columns.forEach(function (col) {
        const td = el("td", null, col.kind === "text" ? "" : "num");
        if (col.key === "model") {
          const href = safeHref(e.reference);
          const name = href ? el("a", e.model) : el("span", e.model);
          if (href) name.setAttribute("href", href);
          name.className = "model-name";
          td.appendChild(name);
          td.appendChild(el("span", e.revision, "rev"));
          if (e.partial) td.appendChild(el("span", "partial " + e.n_tasks + "/" + e.n_declared_tasks, "badge"));
        } else if (col.key === "vs_next") {
          const v = sepValue(e);
          if (v !== null) {
            const mark = el("span", v === "yes" ? "\u2260 yes" : "\u2248 no", "sep sep-" + v);
            mark.title = sepTitle(e);
            td.appendChild(mark);
            td.appendChild(el("span", e.vs_next.method, "method"));
          } else {
            td.textContent = "\u2013";
          }
        } else {
          const v = col.value(e);
          td.appendChild(document.createTextNode(fmt(col, v)));
          const ci = col.ci ? col.ci(e) : null;
          if (ci && v !== null && v !== undefined) {
            const span = el("span", " " + halfWidth(ci), "ci");
            span.title = "95% interval [" + (100 * ci[0]).toFixed(2) + ", " + (100 * ci[1]).toFixed(2) + "]";
            td.appendChild(span);
          }
          if (col.task && e.scores[col.task] && !e.scores[col.task].zero_shot) td.appendChild(document.createTextNode(" \u2020"));
        }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    document.querySelectorAll("#leaderboard th.col").forEach(function (th) {
      if (th.dataset.key === state.key) th.setAttribute("aria-sort", state.dir === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    document.getElementById("empty-note").hidden = rows.length > 0;
    document.getElementById("shown-count").textContent =
      rows.length + " of " + entries.length + " models shown";
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function buildChart(rows) {
    // Grouped bars: one group per task family, one bar per shown model (its family mean x100).
    const box = document.getElementById("chart");
    box.replaceChildren();
    const fams = bench.families;
    if (!rows.length || !fams.length) { box.appendChild(el("p", "Nothing to chart.", "note")); return; }
    let lo = 0, hi = 0;
    rows.forEach(function (e) {
      fams.forEach(function (f) {
        const v = e.per_family[f];
        if (v !== null && v !== undefined) { lo = Math.min(lo, 100 * v); hi = Math.max(hi, 100 * v); }
      });
    });
    hi = Math.max(10, Math.ceil(hi / 10) * 10);
    lo = Math.floor(lo / 10) * 10;
    const bar = 14, gap = 24, left = 48, top = 12, plotH = 220;
    const groupW = Math.max(rows.length * bar + gap, 100); // room for the family label
    const width = left + fams.length * groupW + 16;
    const legendH = 18 * rows.length + 8;
    const height = top + plotH + 40 + legendH;
    const s = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
                           role: "img", "aria-label": "Family means per model" });
    const y = function (v) { return top + plotH * (hi - v) / (hi - lo); };
    for (let t = lo; t <= hi; t += 10) {
      s.appendChild(svg("line", { x1: left, x2: width - 8, y1: y(t), y2: y(t), stroke: "#eaeef2" }));
      s.appendChild(svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, t));
    }
    s.appendChild(svg("line", { x1: left, x2: width - 8, y1: y(0), y2: y(0), stroke: "#57606a" }));
    fams.forEach(function (f, fi) {
      const x0 = left + fi * groupW + (groupW - rows.length * bar) / 2;
      rows.forEach(function (e, ei) {
        const v = e.per_family[f];
        const color = PALETTE[e._order % PALETTE.length];
        if (v === null || v === undefined) {
          s.appendChild(svg("text", { x: x0 + ei * bar + bar / 2, y: y(0) - 3, "text-anchor": "middle" }, "\u2013"));
          return;
        }
        const rect = svg("rect", { x: x0 + ei * bar, y: Math.min(y(0), y(100 * v)), width: bar - 2,
                                   height: Math.abs(y(0) - y(100 * v)), fill: color, class: "bar" });
        const ci = familyCi(e, f);
        rect.appendChild(svg("title", {}, e.model + " \u2013 " + f + ": " + (100 * v).toFixed(2) +
                             (ci ? " " + halfWidth(ci) : "")));
        s.appendChild(rect);
        if (ci) {  // the 95% interval as an error bar, clipped to the plot
          const cx = x0 + ei * bar + (bar - 2) / 2;
          const clip = function (u) { return Math.max(lo, Math.min(hi, 100 * u)); };
          s.appendChild(svg("line", { x1: cx, x2: cx, y1: y(clip(ci[0])), y2: y(clip(ci[1])), class: "err" }));
        }
      });
      s.appendChild(svg("text", { x: left + fi * groupW + groupW / 2, y: top + plotH + 18, "text-anchor": "middle" }, f));
    });
    rows.forEach(function (e, ei) {
      const ly = top + plotH + 40 + ei * 18;
      s.appendChild(svg("rect", { x: left, y: ly, width: 12, height: 12, fill: PALETTE[e._order % PALETTE.length] }));
      s.appendChild(svg("text", { x: left + 18, y: ly + 10, class: "legend" }, e.model + " (" + e.revision + ")"));
    });
    box.appendChild(s);
  }

  function buildHistory() {
    // Entries of older benchmark versions: history, listed apart and never ranked against the current ones.
    const rows = data.history || [];
    const section = document.getElementById("history-section");
    section.hidden = rows.length === 0;
    const tbody = document.querySelector("#history tbody");
    tbody.replaceChildren();
    rows.forEach(function (h) {
      const tr = el("tr", null, "history");
      const version = el("td");
      version.appendChild(el("span", h.benchmark + " " + h.benchmark_version));
      version.appendChild(el("span", "history", "badge history-badge"));
      tr.appendChild(version);
      const model = el("td");
      model.appendChild(el("span", h.model, "history-model"));
      model.appendChild(el("span", h.revision, "rev"));
      tr.appendChild(model);
      tr.appendChild(el("td", fmt({ kind: "score" }, h.mean_over_families), "num"));
      tr.appendChild(el("td", fmt({ kind: "score" }, h.mean_over_tasks), "num"));
      tr.appendChild(el("td", String(h.n_tasks) + (h.partial ? " (partial)" : ""), "num"));
      tr.appendChild(el("td", h.submitted_at ? h.submitted_at.slice(0, 10) : "\u2013"));
      tbody.appendChild(tr);
    });
  }

  function methodNote() {
    // Which way neighbouring ranks were compared on this page (per pair; see the column's tooltips).
    const used = {};
    entries.forEach(function (e) { if (e.vs_next && e.vs_next.method) used[e.vs_next.method] = (used[e.vs_next.method] || 0) + 1; });
    const keys = Object.keys(used).sort();
    const note = document.getElementById("method-note");
    if (!keys.length) { note.textContent = "No neighbouring ranks could be compared (no intervals)."; return; }
    note.textContent = "vs. next: is the entry's mean over families distinguishable from the next rank's at 95%? " +
      "Decided by " + keys.map(function (k) { return (data.methods[k] || k) + " (" + used[k] + " pair" +
      (used[k] === 1 ? "" : "s") + ")"; }).join("; ") + ".";
  }

  function render() {
    const col = columns.find(function (c) { return c.key === state.key; });
    const rows = visible().slice().sort(compare(col, state.dir));
    buildBody(rows);
    buildChart(rows);
  }

  buildHead();
  document.getElementById("zero-shot-only").addEventListener("change", function (ev) {
    state.zeroShotOnly = ev.target.checked;
    render();
  });
  const foot = [];
  if (data.updated_at) foot.push("Updated " + data.updated_at + ".");
  if (data.older_entries) foot.push(data.older_entries + " entries of older benchmark versions are not ranked here " +
                                    "(listed under History).");
  document.getElementById("footer").textContent = foot.join(" ");
  methodNote();
  buildHistory();
  render();
})();
