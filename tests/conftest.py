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
