"""Urban perception: linear probes on frozen embeddings with fixed, spatially blocked CV folds.

targets.parquet holds one row per image: `image_id`, `split`, `fold` (the spatial block's fold, fixed by
ugdata so every model sees the same folds), optional `lat`/`lon`, and one column per target. Which columns
are targets comes from task.json (`targets`: {"regression": [...], "classification": [...]}); without it,
float columns are regression targets and integer/bool/string columns classification targets.

For each target and each fold f, a probe is fitted on the other folds and predicts fold f:
  regression      StandardScaler + RidgeCV(alphas=PROBE_ALPHAS) (efficient leave-one-out alpha choice
                  inside the training folds only), scored by R^2 and Spearman on the pooled
                  out-of-fold predictions, each with its fold's intercept replaced by the split's mean
                  (see "Fold intercepts" below);
  classification  StandardScaler + LogisticRegression(C=1, lbfgs, max_iter=1000), scored by accuracy and
                  macro-F1 on the pooled out-of-fold predictions.
pairs.parquet (optional): `split`, `attribute`, `image_a`, `image_b`, `label` (1.0 when image_a scores
higher): pairwise-choice accuracy compares the out-of-fold regression predictions of the attribute for the
two images (both in the same split, so both have out-of-fold predictions).
Reported: per target under `targets`, their means as r2 / spearman / accuracy / macro_f1, and
pairwise_accuracy.
Intervals: every score carries a 95% seeded bootstrap interval (`ci95`, ugbench.stats): the per-target scores
and their means are recomputed on resamples of the split's items, pairwise_accuracy's on resamples of its
pairs; each pair's 0 / 0.5 / 1 goes to ctx.per_query (for `ugbench compare`).

Fold intercepts: a fold's probe predicts intercept + w.z(x), where z is x standardised on the training
folds and the intercept is the training folds' target mean (the standardised features are centred
there). That mean carries nothing from the embeddings, and under spatially blocked folds it runs opposite
to the held-out fold (a fold with high targets leaves a lower mean behind), so pooling the folds'
predictions ranked a model with no information well below chance: random 64-d features scored Spearman
-0.36 and pairwise accuracy 0.33 on the pinned city's test split (20 seeds: -0.356 +- 0.014, 0.326 +-
0.007). The probe's score for an item is therefore its embedding part w.z(x) plus one constant shared by
all folds, the split's target mean:
  - Spearman and pairwise accuracy do not depend on that constant (ranks of a common shift), so they use
    nothing from the held-out targets; random features now score Spearman -0.007 +- 0.024 and pairwise
    0.495 +- 0.016 on the same split and seeds;
  - R^2 does: with the split's mean (the same scalar R^2 measures against) it is the share of variance
    around that mean explained by the probe's deviations, 0 for a probe that predicts no deviation and
    below 0 when the deviations are noise. That one scalar is the same for every model.
Scoring each metric within each held-out fold and averaging (sklearn's cross_val_score) also removes the
offset from Spearman, but not from R^2 (each fold's R^2 still charges the training mean's miss), it drops
the between-fold part of what a model knows, gives an 8-item fold the weight of a 72-item one, and most
pairs (79% on the pinned test split; ugdata samples them within a split, not a fold) compare items of two
folds. Classification probes are unchanged: their intercepts carry the training folds' class shares,
which can shift between folds too, but a predicted class cannot be re-centred as a score can.

Degenerate features: when every item of a split has the same embedding (up to float noise), e.g. a
text-only model on these image-only items (all-zero or all-equal vectors), the model knows nothing about
any item. Fitting a probe anyway predicts each fold's training mean, and those means are anti-correlated
with the held-out folds' values (a fold with high targets leaves a lower mean behind), which scored such
models at Spearman -0.4 to -0.6. Like the ranking tie rule, such a split is scored at the chance level
instead: one constant prediction for every item (the split's target mean, or its most frequent class), so
Spearman 0, R^2 0, pairwise accuracy 0.5 (all ties), accuracy = the majority share; the split's scores say
`degenerate_features: true`. (The fold-intercept rule gives the same regression scores for exactly
constant features; the check stays because features constant up to float noise would otherwise be
scaled up to unit variance by the probe's StandardScaler and fitted as if they were information.)
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from ugcore.errors import DataError

from ..encoding import ItemTable, graphs_of, opt_float
from ..metrics.probe import classification_scores, pair_correct, pairwise_choice_accuracy, regression_scores
from ..stats import bootstrap_ci, bootstrap_stat_ci

PROBE_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
DEGENERATE_RTOL = 1e-6  # relative spread below which a feature column counts as constant (float32 noise)
RESERVED = {"image_id", "split", "fold", "lat", "lon", "graph_context", "node_id", "city", "text", "point_key"}


def _targets(spec, df: pd.DataFrame, where: str) -> tuple[list[str], list[str]]:
    declared = spec.extra.get("targets", spec.extra.get("attributes"))
    if isinstance(declared, dict):
        reg, cls = list(declared.get("regression", [])), list(declared.get("classification", []))
    elif isinstance(declared, list):
        reg, cls = [c for c in declared if pd.api.types.is_float_dtype(df[c])], [
            c for c in declared if not pd.api.types.is_float_dtype(df[c])]
    else:
        free = [c for c in df.columns if c not in RESERVED]
        reg = [c for c in free if pd.api.types.is_float_dtype(df[c])]
        cls = [c for c in free if c not in reg and (pd.api.types.is_integer_dtype(df[c]) or pd.api.types.is_bool_dtype(
            df[c]) or pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object)]
    missing = [c for c in reg + cls if c not in df.columns]
    if missing:
        raise DataError(f"{where}: target column(s) {missing} named in task.json are missing")
    if not reg and not cls:
        raise DataError(f"{where} has no target columns")
    return reg, cls


def _oof(x: np.ndarray, y: np.ndarray, folds: np.ndarray, classify: bool) -> np.ndarray:
    """Out-of-fold predictions; a regression fold's intercept is replaced by mean(y) (module docstring)."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty(len(y), dtype=object if classify else np.float64)
    shared = float(np.mean(y)) if not classify and len(y) else 0.0
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        if classify:
            classes = np.unique(y[train])
            if len(classes) < 2:  # a constant training fold: the only sensible prediction is that class
                pred[test] = classes[0]
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        else:
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=PROBE_ALPHAS))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x[train], y[train])
        if classify:
            pred[test] = model.predict(x[test])
        else:
            # the ridge intercept on training-standardised features is mean(y[train]): keep only the
            # embedding part w.z(x) and put every fold on the same constant (see "Fold intercepts")
            pred[test] = model.predict(x[test]) - float(model[-1].intercept_) + shared
    return pred


def degenerate(x: np.ndarray) -> bool:
    """True when no feature column varies across the rows of `x` beyond float noise (no information)."""
    if len(x) < 2:
        return True
    spread = float(np.ptp(x, axis=0).max(initial=0.0))
    return spread <= DEGENERATE_RTOL * max(float(np.abs(x).max(initial=0.0)), 1e-30)


def _constant(y: np.ndarray, classify: bool) -> np.ndarray:
    """The chance-level prediction for degenerate features: one value for every item."""
    if classify:
        values, counts = np.unique(y, return_counts=True)
        return np.full(len(y), values[int(np.argmax(counts))], dtype=object)
    return np.full(len(y), float(np.mean(y)) if len(y) else 0.0)


def _spearman(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import rankdata

    if len(y) < 2 or np.ptp(y) == 0 or np.ptp(p) == 0:
        return 0.0
    return float(np.corrcoef(rankdata(y), rankdata(p))[0, 1])


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 0.0 if ss_tot == 0 else 1.0 - float(np.sum((y - p) ** 2)) / ss_tot


def _macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    """sklearn's f1_score(average="macro", zero_division=0) over the classes in y or p; y, p integer codes."""
    k = int(max(y.max(initial=0), p.max(initial=0))) + 1
    tp = np.bincount(y[y == p], minlength=k)
    n_true, n_pred = np.bincount(y, minlength=k), np.bincount(p, minlength=k)
    present = (n_true + n_pred) > 0
    denom = n_true + n_pred
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def _item_intervals(rows: pd.DataFrame, reg: list[str], cls: list[str], oof_reg: dict[str, pd.Series],
                    cls_pred: dict[str, np.ndarray], seed: int, keys: tuple[str, ...]) -> dict[str, list[float]]:
    """95% bootstrap intervals over the split's items of the per-target scores ("target/metric") and of their
    means over targets (r2, spearman, accuracy, macro_f1): each resample recomputes every score."""
    n = len(rows)
    ids = rows["image_id"].astype(str).to_numpy()
    reg_data = []
    for col in reg:
        y = rows[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        pred = np.full(n, np.nan)
        pred[ok] = oof_reg[col].reindex(ids[ok]).to_numpy(np.float64)
        reg_data.append((col, y, pred, ok))
    cls_data = []
    for col in cls:
        y = rows[col].astype(str).to_numpy()
        _, codes = np.unique(np.concatenate([y, cls_pred[col]]), return_inverse=True)
        cls_data.append((col, codes[:n], codes[n:]))

    def stat(idx: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for col, y, pred, ok in reg_data:
            sel = idx[ok[idx]]
            out[f"{col}/r2"], out[f"{col}/spearman"] = _r2(y[sel], pred[sel]), _spearman(y[sel], pred[sel])
        for col, y, pred in cls_data:
            out[f"{col}/accuracy"] = float(np.mean(y[idx] == pred[idx]))
            out[f"{col}/macro_f1"] = _macro_f1(y[idx], pred[idx])
        for metric in ("r2", "spearman", "accuracy", "macro_f1"):
            vals = [v for k, v in out.items() if k.endswith("/" + metric)]
            if vals:
                out[metric] = float(np.mean(vals))
        return out

    return bootstrap_stat_ci(n, stat, seed=seed, keys=keys)


def run_probe_task(meta, ctx) -> dict[str, dict]:
    ud = ctx.ud
    spec = ctx.spec(meta)
    tpath = f"{ud.root}/tasks/{meta.data_task}/targets.parquet"
    t0 = time.perf_counter()
    targets = ud.task_table(meta.data_task, "targets")
    for col in ("image_id", "fold"):
        if col not in targets.columns:
            raise DataError(f"{tpath} lacks column '{col}' (see ugdata/format.py)")
    if "split" not in targets.columns:
        targets = targets.assign(split="test")
    splits = ctx.pick_splits(meta, spec, sorted(targets["split"].astype(str).unique()), tpath)
    targets = targets[targets["split"].astype(str).isin(splits)].reset_index(drop=True)
    reg, cls = _targets(spec, targets, tpath)
    pairs = None
    if (ud.root / "tasks" / meta.data_task / "pairs.parquet").is_file():
        pairs = ud.task_table(meta.data_task, "pairs")
        need = ("image_a", "image_b", "attribute", "label")
        if any(c not in pairs.columns for c in need):
            raise DataError(f"{ud.root}/tasks/{meta.data_task}/pairs.parquet needs columns {list(need)}; "
                            f"it has {list(pairs.columns)}")
    if meta.with_graph and not ("graph_context" in targets and targets["graph_context"].map(len).gt(0).any()):
        raise DataError(f"{tpath}: no row has graph_context, so the with-graph task '{meta.name}' cannot run")
    ctx.timings["load"] = ctx.timings.get("load", 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    table = ItemTable(
        ids=targets["image_id"].astype(str).tolist(),
        texts=[None] * len(targets),
        image_ids=targets["image_id"].astype(str).tolist(),
        graphs=graphs_of(targets["graph_context"]) if "graph_context" in targets else [],
        # perception asks about the place, not where it is: a model may see the location
        lats=[opt_float(v) for v in targets["lat"]] if "lat" in targets else [],
        lons=[opt_float(v) for v in targets["lon"]] if "lon" in targets else [],
    )
    # probe items are the task's queries (task.json lists their modalities and instruction under "query")
    emb = ctx.encoder.encode(table, task=meta.name, side="query",
                             instruction=ctx.instruction(meta, spec, "query"), with_graph=meta.with_graph, cache_task=meta.data_task)
    ctx.timings["encode"] = ctx.timings.get("encode", 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    x = emb.astype(np.float64)
    out: dict[str, dict] = {}
    for split in splits:
        m = (targets["split"].astype(str) == split).to_numpy()
        folds = targets.loc[m, "fold"].to_numpy()
        if len(np.unique(folds)) < 2:  # too few spatial blocks in this split to cross-validate
            ctx.skipped_splits[split] = f"{tpath}: fewer than 2 folds in split '{split}'"
            continue
        flat = degenerate(x[m])
        per_target: dict[str, dict] = {}
        oof_reg: dict[str, pd.Series] = {}
        cls_pred: dict[str, np.ndarray] = {}
        for col in reg:
            y = targets.loc[m, col].to_numpy(dtype=np.float64)
            ok = np.isfinite(y)
            pred = (_constant(y[ok], classify=False) if flat
                    else _oof(x[m][ok], y[ok], folds[ok], classify=False)).astype(np.float64)
            per_target[col] = regression_scores(y[ok], pred)
            if ctx.save_predictions:
                ctx.predictions.setdefault("kind", "probe")
                ctx.predictions.setdefault("rows", []).append(pd.DataFrame({
                    "split": split, "image_id": targets.loc[m, "image_id"].astype(str).to_numpy()[ok],
                    "target": col, "fold": folds[ok], "y_true": y[ok], "y_pred": pred}))
            oof_reg[col] = pd.Series(pred, index=targets.loc[m, "image_id"].astype(str).to_numpy()[ok])
        for col in cls:
            y = targets.loc[m, col].astype(str).to_numpy()
            pred = (_constant(y, classify=True) if flat else _oof(x[m], y, folds, classify=True)).astype(str)
            per_target[col] = classification_scores(y, pred)
            cls_pred[col] = pred
            if ctx.save_predictions:
                ctx.predictions.setdefault("kind", "probe")
                ctx.predictions.setdefault("rows", []).append(pd.DataFrame({
                    "split": split, "image_id": targets.loc[m, "image_id"].astype(str).to_numpy(), "target": col,
                    "fold": folds, "y_true": y, "y_pred": pred}))
        scores: dict = {}
        item_ci = _item_intervals(targets.loc[m], reg, cls, oof_reg, cls_pred, ctx.seed, (meta.data_task, split))
        for col, pt in per_target.items():
            pt["ci95"] = {k.split("/", 1)[1]: v for k, v in item_ci.items() if k.split("/", 1)[0] == col}
        for metric in ("r2", "spearman", "accuracy", "macro_f1"):
            vals = [v[metric] for v in per_target.values() if metric in v]
            if vals:
                scores[metric] = float(np.mean(vals))
        if pairs is not None:
            p = pairs[pairs["split"].astype(str) == split] if "split" in pairs else pairs
            p = p[p["attribute"].astype(str).isin(oof_reg)]
            if len(p):
                sa, sb = [], []
                for a, b, attr in zip(p["image_a"].astype(str), p["image_b"].astype(str),
                                      p["attribute"].astype(str), strict=True):
                    s = oof_reg[attr]
                    if a not in s.index or b not in s.index:
                        raise DataError(f"pairs.parquet: pair ({a}, {b}) names an image without a '{attr}' "
                                        f"target in split '{split}'")
                    sa.append(s[a])
                    sb.append(s[b])
                a_wins = p["label"].astype(float).to_numpy() > 0.5
                scores["pairwise_accuracy"] = pairwise_choice_accuracy(sa, sb, a_wins)
                scores["n_pairs"] = len(p)
                correct = pair_correct(sa, sb, a_wins)
                pair_ci = bootstrap_ci({"pairwise_accuracy": correct}, seed=ctx.seed, keys=(meta.data_task, split, "pairs"))
                ctx.per_query.append(pd.DataFrame({
                    "split": split, "query_id": [f"{a}|{b}|{t}" for a, b, t in zip(
                        p["image_a"].astype(str), p["image_b"].astype(str), p["attribute"].astype(str), strict=True)],
                    "pairwise_accuracy": correct}))
        scores["targets"] = per_target
        scores["ci95"] = {k: v for k, v in item_ci.items() if "/" not in k}
        if pairs is not None and "pairwise_accuracy" in scores:
            scores["ci95"].update(pair_ci)
        if flat:
            scores["degenerate_features"] = True
        if meta.main_score not in scores:
            raise DataError(f"task '{meta.name}': main score '{meta.main_score}' cannot be computed from {tpath}")
        scores["main_score"] = scores[meta.main_score]
        scores["n_items"] = int(m.sum())
        out[split] = scores
    if not out:
        raise DataError(f"{tpath}: no split among {splits} has 2 or more folds; probes need cross-validation folds")
    ctx.timings["score"] = ctx.timings.get("score", 0.0) + time.perf_counter() - t0
    return out
