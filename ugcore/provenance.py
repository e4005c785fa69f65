"""Provenance for manifests and results: package versions, git commit, hardware, UTC time."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path

PACKAGE = "urban-graph-embeddings"
TRACKED = (
    "torch", "transformers", "peft", "accelerate", "torch-geometric", "datasets", "faiss-cpu",
    "osmnx", "networkx", "numpy", "pandas", "scikit-learn", "sentence-transformers", "pyrosm",
)


def package_version() -> str:
    try:
        return md.version(PACKAGE)
    except md.PackageNotFoundError:
        return "0+unknown"


def versions(names=TRACKED) -> dict[str, str]:
    out = {"python": platform.python_version(), PACKAGE: package_version()}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            continue
    return out


def git_commit(start: str | Path | None = None) -> str | None:
    """The commit of the checkout this package runs from (None outside git); '-dirty' if modified."""
    cwd = Path(start) if start else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, object]:
    info: dict[str, object] = {"machine": platform.machine(), "system": platform.system(),
                               "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
