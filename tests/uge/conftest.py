"""Fixtures for the uge tests: a small UGData dir, the stand-in backbone on sys.path, one torch thread.

One thread: on the shared 2-core CI machine, two torch threads per process spin against the other
engineers' processes and tiny matmuls get ~8x slower. The previous setting is restored afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    from fakedata import build_fake_ugdata

    return build_fake_ugdata(tmp_path_factory.mktemp("ugdata") / "fake", n_views=48, seed=0)


def standin_config(data: Path, out: Path, **sections) -> dict:
    """A raw config dict for the stand-in backbone; `sections` update the named sections."""
    raw = {
        "backbone": {"name_or_path": "adapter:standin:make_adapter", "gradient_checkpointing": False},
        "data": {"path": str(data)},
        "loss": {"temperature": 0.05},
        "optim": {"lr": 1e-3},
        "graph": {"hidden_dim": 32, "edge_dim": 8},
        "train": {"output_dir": str(out), "max_steps": 4, "per_device_batch_size": 4, "log_every_steps": 1},
        "logging": {"wandb": "disabled", "tensorboard": False, "progress": False},
    }
    for k, v in sections.items():
        raw.setdefault(k, {}).update(v)
    return raw
