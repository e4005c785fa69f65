"""StreetSem tests: one torch thread (the CI machine has 2 shared cores) and small synthetic tables."""

import pytest
import torch

from ugbench.streetsem.splits import assign_splits
from ugbench.streetsem.synthetic import synthetic_streetsem


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def table():
    """400 views (100 panoramas x 4 FoVs) with signal, split 80/10/10 over (image, fov) pairs."""
    return assign_splits(synthetic_streetsem(100, noise=0.6, seed=3), seed=0)
