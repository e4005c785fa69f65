"""Test-wide settings: offline, deterministic, small thread pools (CI has 2 cores)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTHONHASHSEED", "0")

# Tiny backbones and other caches go to a per-session folder, never the user's ~/.cache.
if "UG_CACHE" not in os.environ:
    import tempfile

    os.environ["UG_CACHE"] = tempfile.mkdtemp(prefix="ug-test-cache-")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread per test: the models here are toy-sized, where more threads only spin, and CI's two
    cores are shared with the test's own worker processes (accelerate launches, DataLoader workers)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
