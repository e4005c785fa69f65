"""Shared fixtures: mock UGData directories (ugbench.testing), tiny dual encoders, a custom-model module."""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=RuntimeWarning, message="ugbench model adapter")


@pytest.fixture(scope="session")
def mock_data(tmp_path_factory) -> Path:
    from ugbench.testing import build_mock_ugdata

    return build_mock_ugdata(tmp_path_factory.mktemp("mock") / "ugdata", n_places=16)


@pytest.fixture(scope="session")
def chance_data(tmp_path_factory) -> Path:
    """Enough queries (200, 10 candidates each) to test chance levels."""
    from ugbench.testing import build_mock_ugdata

    return build_mock_ugdata(tmp_path_factory.mktemp("chance") / "ugdata", n_places=200, n_candidates=10,
                             seed=1)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    from ugbench.testing import build_tiny_dual_encoder

    return build_tiny_dual_encoder(tmp_path_factory.mktemp("clip") / "tiny-clip", "clip")


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory) -> Path:
    from ugbench.testing import build_tiny_dual_encoder

    return build_tiny_dual_encoder(tmp_path_factory.mktemp("siglip") / "tiny-siglip", "siglip")


CUSTOM_MODULE = textwrap.dedent('''
    import numpy as np
    from ugcore.protocol import ModelMeta

    class HashModel:
        """Deterministic text+image model: a vector from the item's text words and mean image colour."""

        def __init__(self, dim=24, device=None):
            self.dim = dim
            self.meta = ModelMeta(name="hash-model", revision="t1", embed_dim=dim, modalities=["text", "image"])
            self.calls = 0

        def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
            self.calls += 1
            out = np.zeros((len(items), self.dim), dtype=np.float32)
            for i, it in enumerate(items):
                for w in (it.text or "").lower().split():
                    out[i, sum(map(ord, w)) % (self.dim - 3)] += 1.0
                if it.image is not None:
                    out[i, -3:] = np.asarray(it.image).reshape(-1, 3).mean(0) / 255.0
            return out

    def make_model(device=None):
        return HashModel(dim=24, device=device)

    instance = HashModel(dim=16)

    class NaNModel(HashModel):
        def encode(self, items, **kw):
            out = super().encode(items, **kw)
            out[0, 0] = np.nan
            return out

    class WrongDimModel(HashModel):
        def encode(self, items, *, side, **kw):
            out = super().encode(items, side=side, **kw)
            return out[:, :8] if side == "query" else out

    class ShortModel(HashModel):
        def encode(self, items, **kw):
            return super().encode(items, **kw)[:-1]

    def load_checkpoint(path, device=None):
        import json, pathlib
        spec = json.loads((pathlib.Path(path) / "ugbench_model.json").read_text())
        m = HashModel(dim=int(spec["dim"]))
        m.meta.name = spec["name"]
        return m
''')


@pytest.fixture(scope="session")
def custom_module(tmp_path_factory) -> str:
    """A module `ugb_custom_models` importable for the session (for module:attr and checkpoint loaders)."""
    d = tmp_path_factory.mktemp("custom")
    (d / "ugb_custom_models.py").write_text(CUSTOM_MODULE)
    sys.path.insert(0, str(d))
    return "ugb_custom_models"


@pytest.fixture()
def checkpoint_dir(tmp_path, custom_module) -> Path:
    import json

    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "weights.bin").write_bytes(b"\0")
    (d / "ugbench_model.json").write_text(json.dumps({"loader": f"{custom_module}:load_checkpoint",
                                                      "name": "tiny-ckpt", "dim": 20, "weights": ["weights.bin"]}))
    return d


@pytest.fixture(scope="session")
def small_ugdata(tmp_path_factory) -> Path:
    """A real UGData built from the embedded city (central Helsinki OSM, synthetic views)."""
    from ugdata.testing import small_build

    return small_build(tmp_path_factory.mktemp("ugd") / "small", n_views=120, seed=0)


@pytest.fixture(scope="session")
def small_ugdata_25(tmp_path_factory) -> Path:
    """A real UGData build asking for 25 candidates per query (the UGBench 2.0 preset's count): 90 points of the
    embedded city, val and test 35% each on 100 m blocks so that every split has the 25+ points a 25-candidate
    list needs; 32 px synthetic views (seconds to build)."""
    from ugdata.testing import small_build

    return small_build(tmp_path_factory.mktemp("ugd25") / "small25", n_views=360, seed=0, n_candidates=25,
                       val_frac=0.35, test_frac=0.35, block_m=100.0, synth_size=32)
