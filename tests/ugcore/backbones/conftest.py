"""Shared fixtures: the three tiny backbones, built once per session into a temporary cache."""

from __future__ import annotations

import pytest
from backbone_helpers import TINY, noise_image


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """UG_CACHE for the session: tiny backbones are built here, never in the user's home."""
    root = tmp_path_factory.mktemp("ug_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("UG_CACHE", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="session")
def tiny_paths(tiny_cache):
    from ugcore.backbones import build_tiny_backbone

    return {name: build_tiny_backbone(name, tiny_cache / "built" / name, seed=0) for name in TINY}


@pytest.fixture(scope="session")
def mixed_items():
    """Text-only, image-only and text+image items with different lengths and image sizes."""
    return [
        ("a street", None),
        (None, noise_image(56, 56, 1)),
        (
            "the long quiet residential road north of the old park, near a tram station",
            noise_image(60, 90, 2),
        ),
        ("x", noise_image(112, 70, 3)),
        ("bus station on the east side of the square", None),
        (None, noise_image(90, 60, 4)),
    ]


@pytest.fixture(scope="session")
def loaded(tiny_paths):
    """load(name, side) -> a Backbone shared by tests that do not modify it (no LoRA, no graph tokens)."""
    from ugcore.backbones import load_backbone

    cache = {}

    def get(name: str, side: str = "left"):
        if (name, side) not in cache:
            cache[name, side] = load_backbone(tiny_paths[name], padding_side=side)
        return cache[name, side]

    return get
