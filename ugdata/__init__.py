"""ugdata: build UGData (street views anchored to a heterogeneous OSM spatial graph) on disk."""

from .format import UGData, load

__all__ = ["UGData", "load"]
__version__ = "0.1.0"
