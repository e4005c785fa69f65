"""Test-wide settings: offline, deterministic, small thread pools (CI has 2 cores)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTHONHASHSEED", "0")

# Every test session starts as a new user's machine does: tiny backbones, embedding caches, Hugging Face and
# XDG caches go to NEW EMPTY per-session folders (never the user's ~/.cache, never a cache that an earlier run
# filled and that could hide a cold-start race). UG_TEST_KEEP_CACHES=1 keeps the caller's folders instead.
if not os.environ.get("UG_TEST_KEEP_CACHES"):
    import tempfile

    _fresh = tempfile.mkdtemp(prefix="ug-test-caches-")
    for _var in ("UG_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        os.environ[_var] = os.path.join(_fresh, _var.lower())
        os.makedirs(os.environ[_var], exist_ok=True)


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
