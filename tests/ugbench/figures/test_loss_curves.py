"""Loss curves from run directories shaped like `uge train`'s (config.yaml + metrics.jsonl)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fig_helpers import check_png, colour_pixels, write_run

from ugbench.figures import loss_curves
from ugbench.figures.loss_curves import ema, losses_figsize, read_run
from ugbench.figures.render import color
from ugcore.errors import UserError


def test_two_stages_two_panels(runs, tmp_path):
    out = loss_curves(runs, tmp_path / "loss.png")
    rgb = check_png(out, losses_figsize(2))
    assert colour_pixels(rgb, color(0)) > 100 and colour_pixels(rgb, color(1)) > 100
    one = loss_curves(runs[:1], tmp_path / "one.png")
    check_png(one, losses_figsize(1))


def test_read_run_parses_uge_metrics(runs):
    (s1,) = read_run(runs[0])
    assert s1.stage == 1 and s1.name == "stage1"
    assert s1.steps.tolist() == list(range(1, 41))  # evaluation records (no "loss") are skipped
    raw = [json.loads(x) for x in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    assert s1.loss.tolist() == [r["loss"] for r in raw if "loss" in r]
    (from_file,) = read_run(runs[1] / "metrics.jsonl")
    assert from_file.stage == 2


def test_resumed_run_keeps_the_last_record_of_a_step_and_record_stage_wins(tmp_path):
    extra = [json.dumps({"step": 3, "loss": 9.0}), json.dumps({"step": 1, "loss": 5.0, "stage": 2})]
    run = write_run(tmp_path / "r", None, [1.0, 2.0, 3.0, 4.0], extra_lines=extra)
    by_stage = {r.stage: r for r in read_run(run)}
    assert set(by_stage) == {None, 2}
    assert by_stage[None].loss.tolist() == [1.0, 2.0, 9.0, 4.0] and by_stage[None].notes
    out = loss_curves([run], tmp_path / "l.png")
    check_png(out, losses_figsize(2))


def test_runs_with_the_same_folder_name_get_distinct_labels(tmp_path):
    a = write_run(tmp_path / "a" / "run", 1, [3.0, 2.0, 1.0])
    b = write_run(tmp_path / "b" / "run", 1, [2.5, 2.0, 1.5])
    rgb = check_png(loss_curves([a, b], tmp_path / "l.png"), losses_figsize(1))
    assert colour_pixels(rgb, color(0)) > 50 and colour_pixels(rgb, color(1)) > 50  # two runs, two colours


def test_ema_matches_tensorboard_smoothing():
    v = np.array([1.0, 2.0, 3.0])
    w = 0.6
    # debiased EMA: s_t = sum_i w^(t-i) (1-w) v_i / (1 - w^(t+1))
    expect = [1.0, (0.6 * 0.4 * 1 + 0.4 * 2) / (1 - 0.36), (0.36 * 0.4 * 1 + 0.24 * 2 + 0.4 * 3) / (1 - 0.216)]
    np.testing.assert_allclose(ema(v, w), expect)
    np.testing.assert_allclose(ema(v, 0.0), v)


def test_bad_runs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        loss_curves([tmp_path / "missing"], tmp_path / "x.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no metrics.jsonl"):
        loss_curves([tmp_path / "empty"], tmp_path / "x.png")
    bad = write_run(tmp_path / "bad", 1, [1.0], extra_lines=["{oops"])
    with pytest.raises(UserError, match="line 2 is not JSON"):
        loss_curves([bad], tmp_path / "x.png")
    noloss = tmp_path / "noloss"
    noloss.mkdir()
    (noloss / "metrics.jsonl").write_text(json.dumps({"step": 1, "eval/hit@1": 0.5}) + "\n")
    with pytest.raises(UserError, match="no training records"):
        loss_curves([noloss], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_held_out_mrr_records_add_a_learning_curve_row(tmp_path):
    """Runs that evaluated during training (eval/mrr records, step 0 = untrained) get a second row of panels."""
    evals = [json.dumps({"step": s, "eval/mrr": 0.05 + 0.002 * s}) for s in (0, 10, 20, 30)]
    run = write_run(tmp_path / "s1", 1, [3.0 - 0.05 * i for i in range(30)], extra_lines=evals)
    (r,) = read_run(run)
    assert r.eval_steps.tolist() == [0, 10, 20, 30] and r.eval_mrr[-1] == pytest.approx(0.11)
    assert r.steps.tolist() == list(range(1, 31))  # the loss series is unchanged by them
    rgb = check_png(loss_curves([run], tmp_path / "l.png"), losses_figsize(1, eval_row=True))
    assert colour_pixels(rgb, color(0)) > 100
