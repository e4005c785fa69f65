"""Metrics as pure functions with exact definitions (ranking, geo, probes). See each module's docstring."""

from .geo import GEO_THRESHOLDS_M, geo_metrics
from .probe import pairwise_choice_accuracy, regression_scores
from .ranking import DEFAULT_KS, ranking_metrics

__all__ = [
    "DEFAULT_KS", "GEO_THRESHOLDS_M", "geo_metrics", "pairwise_choice_accuracy", "ranking_metrics",
    "regression_scores",
]
