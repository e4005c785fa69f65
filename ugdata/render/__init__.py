"""Synthetic street-view rendering from real OSM context (see synth.py for the visual encoding)."""

from .context import ROAD_CLASSES, ViewContext

__all__ = ["ROAD_CLASSES", "ViewContext", "render_view", "render_views"]


def __getattr__(name: str):
    # Lazy: importing the context must not pull in PIL/numpy rendering code for callers that only
    # build contexts (e.g. metadata-only benchmark runs).
    if name in ("render_view", "render_views"):
        from . import synth

        return getattr(synth, name)
    raise AttributeError(name)
