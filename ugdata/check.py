"""`ugdata check`: integrity and spatial-leakage checks of a UGData directory.

Returns (problems, notes): problems are failures (the CLI exits 1), notes say what passed. Every check
reads the files as a consumer would (ugdata.load), so a directory that passes is one uge/ugbench can use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ugdata import format as F
from ugdata.paths import SYMMETRIC
from ugdata.splits import leakage_report


def check_dir(path: str | Path, buffer_m: float | None = None,
              require_license: bool = False) -> tuple[list[str], list[str]]:
    """require_license: also fail when an image's licence is unknown (synthetic images count as known)."""
    root = Path(path)
    d = F.load(root)  # NotUGDataError is a UserError
    problems: list[str] = []
    notes: list[str] = []
    m = d.manifest
    cfg = m.get("config", {})
    if not _check_files(root, cfg, problems, notes):
        return problems, notes
    _check_fingerprint(root, m, problems, notes)
    tables = _read_tables(d, root, problems)
    if tables is None:
        return problems, notes
    views, nodes, edges, paths, routes, rej = tables
    _check_counts(root, m, tables, problems, notes)
    node_set = set(nodes.node_id)
    _check_ids(views, nodes, edges, paths, routes, node_set, problems, notes)
    _check_walks(paths, routes, edges, node_set, problems, notes)
    _check_tasks(d, root, set(views.image_id), problems, notes)
    for t, why in sorted((m.get("omitted_tasks") or {}).items()):
        notes.append(f"omitted task {t}: not built on this data ({why})")
    _check_leakage_and_card(root, m, views, buffer_m, require_license, problems, notes)
    return problems, notes


def _check_files(root: Path, cfg: dict, problems: list[str], notes: list[str]) -> bool:
    """Every required file is there (False: the other checks cannot run)."""
    need = [F.CARD, F.NODES, F.EDGES, F.PYG, F.PATHS, F.ROUTES, F.REJECTS, f"{F.DATASET_DIR}/dataset_dict.json"]
    need += [f"{F.PARQUET_DIR}/{s}.parquet" for s in F.SPLITS]
    if cfg.get("graphml", True):
        need.append(F.GRAPHML)
    missing = [n for n in need if not (root / n).is_file()]
    if missing:
        problems.append(f"missing files: {', '.join(missing)}")
        return False
    notes.append(f"{len(need)} required files present")
    return True


def _check_fingerprint(root: Path, m: dict, problems: list[str], notes: list[str]) -> None:
    from ugdata.fingerprint import DataChangedError, verify

    try:
        fp = verify(root, m)
    except DataChangedError as e:
        problems.append(f"fingerprint mismatch: {e}")
    else:
        notes.append(f"fingerprint {fp[:16]}... matches the content")


def _read_tables(d, root: Path, problems: list[str]) -> tuple | None:
    """(views, nodes, edges, paths, routes, rejects), or None (with the problem) when one cannot be read."""
    try:
        views = d.views()
        nodes, edges, paths, routes = d.nodes, d.edges, d.paths, d.routes
        rej = pd.read_csv(root / F.REJECTS)
    except Exception as e:  # any unreadable table is a failed check, reported as such (not a crash)
        problems.append(f"cannot read the tables ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return None
    return views, nodes, edges, paths, routes, rej


def _check_counts(root: Path, m: dict, tables: tuple, problems: list[str], notes: list[str]) -> None:
    """The manifest's counts and split sizes, parquet/ against dataset/, the rejects' columns."""
    views, nodes, edges, paths, routes, rej = tables
    counts = m.get("counts", {})
    actual = {"images": len(views), "nodes": len(nodes), "edges": len(edges), "paths": len(paths),
              "routes": len(routes), "rejected": len(rej)}
    bad = {k: (counts.get(k), v) for k, v in actual.items() if counts.get(k) != v}
    if bad:
        problems.append("counts differ from manifest: " + ", ".join(f"{k} manifest {a} vs {b}" for k, (a, b) in bad.items()))
    else:
        notes.append("counts match the manifest: " + ", ".join(f"{k} {v}" for k, v in actual.items()))
    split_sizes = views.split.value_counts().to_dict() if len(views) else {}
    for s, n in m.get("splits", {}).items():
        if split_sizes.get(s, 0) != n:
            problems.append(f"split {s}: manifest says {n} views, dataset has {split_sizes.get(s, 0)}")
    pq_n = sum(len(pd.read_parquet(root / F.PARQUET_DIR / f"{s}.parquet", columns=["image_id"])) for s in F.SPLITS)
    if pq_n != len(views):
        problems.append(f"parquet/ holds {pq_n} views but dataset/ holds {len(views)}")
    if list(rej.columns) != list(F.REJECT_COLUMNS):
        problems.append(f"rejects.csv columns {list(rej.columns)} != {list(F.REJECT_COLUMNS)}")


def _check_ids(views, nodes, edges, paths, routes, node_set: set, problems: list[str], notes: list[str]) -> None:
    """Ids unique; edges, views and graph contexts reference existing nodes."""
    for name, series in (("image_id", views.image_id), ("node_id", nodes.node_id), ("path_id", paths.path_id),
                         ("route_id", routes.route_id)):
        dup = series[series.duplicated()]
        if len(dup):
            problems.append(f"{len(dup)} duplicate {name}s (e.g. {dup.iloc[0]})")
    if not (nodes.idx.to_numpy() == np.arange(len(nodes))).all():
        problems.append("graph/nodes.parquet: idx is not the row index")
    bad_e = edges[~edges.src.isin(node_set) | ~edges.dst.isin(node_set)]
    if len(bad_e):
        problems.append(f"{len(bad_e)} edges reference unknown nodes (e.g. {bad_e.src.iloc[0]} -> {bad_e.dst.iloc[0]})")
    ids = nodes.node_id.to_numpy()
    if len(edges) and ((ids[edges.src_idx.to_numpy()] != edges.src.to_numpy()).any()
                       or (ids[edges.dst_idx.to_numpy()] != edges.dst.to_numpy()).any()):
        problems.append("edges: src_idx/dst_idx disagree with src/dst node ids")
    for col in ("node_id", "street_node_id"):
        miss = views[~views[col].isin(node_set)]
        if len(miss):
            problems.append(f"{len(miss)} views whose {col} is not a graph node (e.g. {miss.image_id.iloc[0]})")
    bad_ctx = [i for i, c in zip(views.image_id, views.graph_context, strict=True) if len(c) == 0 or c[0] != f"image/{i}"
               or not set(c) <= node_set]
    if bad_ctx:
        problems.append(f"{len(bad_ctx)} views whose graph_context is empty, not centred or has unknown nodes "
                        f"(e.g. {bad_ctx[0]})")
    if not problems:
        notes.append("ids unique; edges, views and graph contexts reference existing nodes")


def _check_walks(paths, routes, edges, node_set: set, problems: list[str], notes: list[str]) -> None:
    """Reasoning paths are walks along graph edges, routes run over intersections; both with consistent totals."""
    pairs = set(zip(edges.src, edges.dst, edges.rel, strict=True))

    def hop_ok(a: str, b: str, r: str) -> bool:
        if r.endswith("_of"):
            return (b, a, r[:-3]) in pairs
        if r in SYMMETRIC:
            return (a, b, r) in pairs or (b, a, r) in pairs
        return (a, b, r) in pairs

    bad_p = 0
    for nid, rels, dist, tot in zip(paths.node_ids, paths.rels, paths.distances_m, paths.total_m, strict=True):
        walk = len(nid) == len(rels) + 1 and all(hop_ok(a, b, r) for a, b, r in zip(nid[:-1], nid[1:], rels, strict=True))
        if not walk or abs(float(np.sum(dist)) - float(tot)) > 0.01:
            bad_p += 1
    if bad_p:
        problems.append(f"{bad_p} reasoning paths are not walks along graph edges or have wrong totals")
    else:
        notes.append(f"{len(paths)} reasoning paths are walks along graph edges with matching totals")
    inter = {n for n in node_set if n.startswith("intersection/")}
    bad_r = sum(1 for ns in routes.node_ids if not set(ns) <= inter)
    bad_r += sum(1 for st, tot in zip(routes.steps, routes.total_m, strict=True)
                 if abs(sum(float(s["length_m"]) for s in st) - float(tot)) > 0.05)
    if bad_r:
        problems.append(f"{bad_r} routes reference unknown street nodes or have wrong totals")


def _check_tasks(d, root: Path, image_ids: set, problems: list[str], notes: list[str]) -> None:
    """Each task's tables reference the dataset's images; ranking tasks' positives and candidates its corpus."""
    for t in d.task_names():
        spec = d.task_spec(t)
        tdir = root / F.TASKS_DIR / t
        if (tdir / "targets.parquet").is_file():  # a probe task
            tg = d.task_table(t, "targets")  # pairs are optional (pairwise perception tasks only)
            pr = d.task_table(t, "pairs") if (tdir / "pairs.parquet").is_file() else None
            paired = set() if pr is None else set(pr.image_a) | set(pr.image_b)
            if not set(tg.image_id) <= image_ids or not paired <= image_ids:
                problems.append(f"task {t}: targets/pairs reference unknown images")
            continue
        if not (tdir / "queries.parquet").is_file() or not (tdir / "corpus.parquet").is_file():
            problems.append(f"task {t}: missing queries or corpus")
            continue
        q, c = d.task_table(t, "queries"), d.task_table(t, "corpus")
        docs = set(c.doc_id)
        if c.doc_id.duplicated().any():
            problems.append(f"task {t}: duplicate doc ids")
        bad_q = 0
        for cand, pos in zip(q.candidate_ids, q.positive_ids, strict=True):
            cand, pos = set(cand), set(pos)
            if not pos or not pos <= docs or (cand and (not cand <= docs or not pos <= cand)):
                bad_q += 1
        qi = set(q.image_id.dropna())
        ci = set(c.image_id.dropna())
        if bad_q:
            problems.append(f"task {t}: {bad_q} queries with positives/candidates missing from the corpus")
        if not qi <= image_ids or not ci <= image_ids:
            problems.append(f"task {t}: queries or corpus reference images not in the dataset")
        if not set(q.split) <= set(spec.splits):
            problems.append(f"task {t}: query splits {sorted(set(q.split))} not in task.json splits {spec.splits}")
    notes.append(f"{len(d.task_names())} tasks checked")


def _check_leakage_and_card(root: Path, m: dict, views, buffer_m: float | None, require_license: bool,
                            problems: list[str], notes: list[str]) -> None:
    """No view within the buffer of another split's view; licences (when required); the card's attributions."""
    cfg = m.get("config", {})
    buf = float(buffer_m if buffer_m is not None else cfg.get("buffer_m", 0.0) or 0.0)
    if buf > 0 and len(views):
        leaks = leakage_report(views, buf)
        problems += [f"spatial leakage: {x}" for x in leaks]
        if not leaks:
            notes.append(f"no view of one split within {buf:g} m of a view of another split")
    if require_license:
        problems += _license_problems(m, views, notes)
    card = (root / F.CARD).read_text()
    if "OpenStreetMap contributors" not in card:
        problems.append("README.md lacks the ODbL attribution '© OpenStreetMap contributors'")
    if m.get("synthetic") and "synthetic" not in card.lower():
        problems.append("README.md does not say that the images are synthetic")


def _license_problems(manifest: dict, views: pd.DataFrame, notes: list[str]) -> list[str]:
    """One problem line when images have an unknown licence: how many, an example id and the fix."""
    from ugdata.licenses import is_unknown, summary

    if manifest.get("synthetic"):
        notes.append(f"licences: all {len(views)} images are synthetic (rendered from OpenStreetMap data)")
        return []
    lic = views["license"] if "license" in views.columns else pd.Series([None] * len(views), index=views.index)
    unknown = lic.map(is_unknown).to_numpy(bool)
    if unknown.any():
        example = views.image_id[unknown].iloc[0]
        return [f"licence unknown for {int(unknown.sum())} of {len(views)} images (e.g. {example}); add a license "
                "column (e.g. 'CC BY-SA 4.0') to the --views table, or fetch with `ugdata fetch`, and rebuild"]
    counts = ", ".join(f"{k} {v}" for k, v in summary(lic.tolist()).items())
    notes.append(f"licences known for all {len(views)} images ({counts})")
    return []
