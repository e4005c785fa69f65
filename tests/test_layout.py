"""The layout shows the pipeline: ugcore is the ground floor; ugdata stands on it; uge and ugbench stand side by
side on both and never import each other. Every import counts, also those inside functions (parsed with ast,
not grepped), and strings handed to importlib are not imports (a saved checkpoint names its loader)."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ugcore", "ugdata", "uge", "ugbench")
ALLOWED = {
    "ugcore": set(),
    "ugdata": {"ugcore"},
    "uge": {"ugcore", "ugdata"},
    "ugbench": {"ugcore", "ugdata"},
}


def imports_between_packages() -> Counter:
    arrows: Counter = Counter()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in PACKAGES and top != pkg:
                        arrows[(pkg, top)] += 1
    return arrows


def test_imports_only_go_down_and_uge_and_ugbench_stand_side_by_side():
    arrows = imports_between_packages()
    bad = {f"{a} -> {b}": n for (a, b), n in arrows.items() if b not in ALLOWED[a]}
    assert not bad, f"imports against the data flow: {bad}"
    assert arrows[("uge", "ugcore")] and arrows[("ugbench", "ugcore")]  # both stand on the ground floor


def test_backbone_configs_ship_as_package_data(tmp_path):
    """The YAMLs that the library reads are inside the package, so an installed (non-editable) copy finds them."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, text=True)
    [wheel] = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for cfg in ("tiny-qwen2-vl", "tiny-llava-next", "qwen2-vl-7b"):
        assert f"ugcore/backbones/configs/{cfg}.yaml" in names
    assert any(n.startswith("ugcore/protocol.py") for n in names)
    # the packaged OpenStreetMap cities with their ODbL attribution, and the pinned build presets (ugdata build)
    for f in ("vancouver.osm.pbf", "nyc_lower_east_side.osm.pbf", "README.md"):
        assert f"ugdata/cities/{f}" in names
    assert "ugdata/presets/ugbench-2.0.yaml" in names
