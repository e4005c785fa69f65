"""Scores for probes on frozen embeddings (urban perception).

- r2:        coefficient of determination of out-of-fold predictions, 1 - SS_res / SS_tot (sklearn r2_score;
             0.0 when the truth is constant, where it is undefined: sklearn's 1.0 for an exact constant
             prediction gave every model, even one with no information, R^2 1 on a target that is all zero
             in a split, e.g. `water` on the pinned city's val split)
- spearman:  Spearman rank correlation of out-of-fold predictions with the truth (scipy; 0.0 when either
             side is constant, where the coefficient is undefined)
- accuracy, macro_f1: of out-of-fold class predictions (sklearn; macro_f1 averages F1 over the classes
             present in the truth or the predictions, zero_division=0)
- pairwise_accuracy: fraction of pairs whose predicted winner (the item with the higher predicted score)
             is the true winner; a predicted tie counts 0.5 (the expected value of a coin flip)
"""

from __future__ import annotations

import numpy as np


def regression_scores(y_true, y_pred) -> dict[str, float]:
    from scipy.stats import spearmanr
    from sklearn.metrics import r2_score

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        rho = 0.0
    else:
        rho = float(spearmanr(y_true, y_pred).statistic)
    r2 = 0.0 if np.ptp(y_true) == 0 else float(r2_score(y_true, y_pred))
    return {"r2": r2, "spearman": rho}


def classification_scores(y_true, y_pred) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def pairwise_choice_accuracy(score_a, score_b, a_wins) -> float:
    """a_wins[i] is True when item a of pair i is the true winner."""
    score_a = np.asarray(score_a, dtype=np.float64)
    if score_a.size == 0:
        raise ValueError("no pairs to score")
    return float(np.mean(pair_correct(score_a, score_b, a_wins)))


def pair_correct(score_a, score_b, a_wins) -> np.ndarray:
    """Per pair: 1 when the predicted winner is the true one, 0.5 for a predicted tie, else 0."""
    score_a = np.asarray(score_a, dtype=np.float64)
    score_b = np.asarray(score_b, dtype=np.float64)
    a_wins = np.asarray(a_wins, dtype=bool)
    return np.where(score_a == score_b, 0.5, ((score_a > score_b) == a_wins).astype(np.float64))
