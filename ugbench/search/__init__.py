"""kNN geo-multimedia cross-modal search: F = mu * Dst + (1 - mu) * Sim over an index (docs/search.md)."""

from .cosmat import CoSMat
from .index import ENGINES, GeoIndex, SearchResult

__all__ = ["ENGINES", "CoSMat", "GeoIndex", "SearchResult"]
