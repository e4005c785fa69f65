"""StreetSem tests: small synthetic tables (one torch thread comes from tests/conftest.py)."""

import pytest

from ugbench.streetsem.splits import assign_splits
from ugbench.streetsem.synthetic import synthetic_streetsem


@pytest.fixture(scope="session")
def table():
    """400 views (100 panoramas x 4 FoVs) with signal, split 80/10/10 over (image, fov) pairs."""
    return assign_splits(synthetic_streetsem(100, noise=0.6, seed=3), seed=0)
