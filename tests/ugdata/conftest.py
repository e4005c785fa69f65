"""Session fixtures: one small real Helsinki build and one build of a test-written OSM XML town,
reused by every test module (building is the expensive part)."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest puts tests/ on sys.path, where the folder tests/ugdata would shadow the real `ugdata` package as
# an empty namespace package (the editable install's finder comes after the path finder). Put the
# repository root first so `import ugdata` is always the package.
_ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[:1] != [_ROOT]:
    sys.path.insert(0, _ROOT)
_mod = sys.modules.get("ugdata")
if _mod is not None and getattr(_mod, "__file__", None) is None:  # an already-imported namespace shell
    for _name in [m for m in sys.modules if m == "ugdata" or m.startswith("ugdata.")]:
        del sys.modules[_name]

import pytest  # noqa: E402
from ugdata_town import write_town  # noqa: E402


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory) -> Path:
    from ugdata.testing import small_build

    return small_build(tmp_path_factory.mktemp("ugd") / "small", n_views=120, seed=0)


@pytest.fixture(scope="session")
def town_osm(tmp_path_factory) -> Path:
    return write_town(tmp_path_factory.mktemp("town"), compression="bz2")


@pytest.fixture(scope="session")
def town_dir(tmp_path_factory, town_osm) -> Path:
    from ugdata.build import build_ugdata

    return build_ugdata(tmp_path_factory.mktemp("townbuild") / "out", osm=[str(town_osm)], synth=40,
                        synth_size=48, block_m=100, buffer_m=20, seed=3)
