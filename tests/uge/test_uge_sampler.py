"""The data order (uge/data.py StepSampler): a pure function of (seed, epoch, step), every row once per epoch,
and with place grouping, the views of one place land in the same batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ugcore.errors import UserError
from uge.data import StepSampler, place_ids


def _epoch(s: StepSampler, epoch: int) -> list[np.ndarray]:
    return [s.rows(epoch, k) for k in range(s.steps_per_epoch)]


def test_plain_order_is_a_seeded_permutation():
    s = StepSampler(50, 8, seed=3)
    batches = _epoch(s, 0)
    assert s.steps_per_epoch == 6 and all(len(b) == 8 for b in batches)
    flat = np.concatenate(batches)
    assert len(set(flat.tolist())) == 48  # no repeats; the last incomplete batch is dropped
    again = StepSampler(50, 8, seed=3)
    assert all((a == b).all() for a, b in zip(batches, _epoch(again, 0), strict=True))
    assert not all((a == b).all() for a, b in zip(batches, _epoch(s, 1), strict=True))  # a new order per epoch


def test_place_groups_share_a_batch():
    views = pd.DataFrame({"lat": np.repeat(np.arange(30) * 1e-3 + 60.0, 4), "lon": 24.9})
    groups = place_ids(views)
    assert len(set(groups)) == 30
    s = StepSampler(len(views), 8, seed=0, groups=groups, group_size=4)
    for epoch in (0, 1):
        batches = _epoch(s, epoch)
        assert len(set(np.concatenate(batches).tolist())) == 15 * 8  # each row at most once
        for b in batches:  # 8 rows = two whole places of 4 headings
            assert sorted(pd.Series(groups[b]).value_counts().tolist()) == [4, 4]
    pairs = StepSampler(len(views), 8, seed=0, groups=groups, group_size=2)
    for b in _epoch(pairs, 0):  # units of two headings of a place: at most 4 places per batch
        assert pd.Series(groups[b]).nunique() <= 4
        assert (pd.Series(groups[b]).value_counts() % 2 == 0).all()
    mixed = StepSampler(len(views), 8, seed=0)
    spread = np.mean([pd.Series(groups[b]).nunique() for b in _epoch(mixed, 0)])
    assert spread > 5  # without grouping, a batch mixes many places


def test_batch_larger_than_split_is_refused():
    with pytest.raises(UserError, match="lower the batch size"):
        StepSampler(5, 8, seed=0)
