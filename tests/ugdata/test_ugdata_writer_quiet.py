"""The writer keeps `datasets`' own progress bars ("Saving the dataset (0/1 shards)") out of the build's
output, without changing what it writes or the caller's progress-bar setting."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import pandas as pd
import pytest

from ugdata import format as F
from ugdata.writer import quiet_datasets, write_dataset


def _tiny_dataset() -> datasets.DatasetDict:
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"x": list(range(5))})})


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_datasets_bars_are_what_is_silenced(tmp_path, capfd):
    """Without the guard datasets prints its bar (so the checks below can fail), with it nothing."""
    was = datasets.are_progress_bars_disabled()
    datasets.enable_progress_bars()
    try:
        _tiny_dataset().save_to_disk(str(tmp_path / "loud"))
        assert "Saving the dataset" in capfd.readouterr().err
        with quiet_datasets():
            _tiny_dataset().save_to_disk(str(tmp_path / "quiet"))
        assert "Saving the dataset" not in capfd.readouterr().err
        assert not datasets.are_progress_bars_disabled()  # the caller's setting comes back
    finally:
        if was:
            datasets.disable_progress_bars()


@pytest.mark.parametrize("disabled_before", [False, True])
def test_setting_restored(disabled_before):
    was = datasets.are_progress_bars_disabled()
    (datasets.disable_progress_bars if disabled_before else datasets.enable_progress_bars)()
    try:
        with quiet_datasets():
            assert datasets.are_progress_bars_disabled()
        assert datasets.are_progress_bars_disabled() == disabled_before
    finally:
        (datasets.disable_progress_bars if was else datasets.enable_progress_bars)()


def test_write_dataset_is_quiet_and_unchanged(small_dir, tmp_path, capfd):
    """Rewriting a build's views gives byte-identical dataset files, and prints no datasets bar."""
    views = pd.concat([pd.read_parquet(p) for p in sorted((small_dir / F.PARQUET_DIR).glob("*.parquet"))],
                      ignore_index=True)
    image_bytes = {i: (im or {}).get("bytes") for i, im in zip(views.image_id, views.image, strict=True)}
    was = datasets.are_progress_bars_disabled()
    datasets.enable_progress_bars()
    try:
        capfd.readouterr()
        write_dataset(tmp_path, views.drop(columns="image"), image_bytes)
        assert "Saving the dataset" not in capfd.readouterr().err
    finally:
        if was:
            datasets.disable_progress_bars()
    assert _digest(tmp_path / F.DATASET_DIR) == _digest(small_dir / F.DATASET_DIR)
