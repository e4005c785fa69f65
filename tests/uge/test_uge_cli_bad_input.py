"""`uge train` through its real entry point (`uge.cli.main`): step counts that would train nothing (or
silently one epoch) are refused before anything is written, and the run's own exit code (3: stopped as if
killed, by train.stop_after_steps) reaches the shell."""

from __future__ import annotations

import pytest
import yaml
from cli_checks import run_cli
from conftest import standin_config


def _cli(capsys, monkeypatch, *args) -> tuple[int, str]:
    code, _, err = run_cli(capsys, monkeypatch, "uge", *args)
    return code, err


@pytest.mark.parametrize("override,needle", [
    ("train.max_steps=-5", "'train.max_steps': Input should be greater than or equal to 1 (got -5)"),
    ("train.max_steps=0", "'train.max_steps': Input should be greater than or equal to 1 (got 0)"),
    ("train.epochs=0", "'train.epochs': Input should be greater than 0"),
    ("train.save_every_steps=0", "'train.save_every_steps'"),
    ("train.log_every_steps=-1", "'train.log_every_steps'"),
])
def test_step_counts_that_train_nothing_are_refused(capsys, monkeypatch, fake_data, tmp_path, override, needle):
    import uge.train as T

    monkeypatch.setattr(T, "train", lambda cfg: (_ for _ in ()).throw(AssertionError("trained")))
    run = tmp_path / "run"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(standin_config(fake_data, run)))
    code, err = _cli(capsys, monkeypatch, "train", "--config", cfg, override)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: invalid config") and needle in lines[0]
    assert str(cfg) in lines[0] and "Traceback" not in err
    assert not run.exists()


def test_exit_code_of_a_stopped_run_reaches_the_shell(capsys, monkeypatch, fake_data, tmp_path):
    import uge.train as T

    def stopped(cfg):
        raise T.SimulatedKill("stopped after 1 steps (train.stop_after_steps)")

    monkeypatch.setattr(T, "train", stopped)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(standin_config(fake_data, tmp_path / "run")))
    code, err = _cli(capsys, monkeypatch, "train", "--config", cfg)
    assert code == 3 and "stopped after 1 steps" in err and "Traceback" not in err


@pytest.mark.parametrize("kind,needle", [
    ("missing", "not found; see configs/uge/ for examples"),
    ("not_yaml", "is not valid YAML"),
    ("a_list", "must hold a mapping at the top level"),
    ("override", "is not of the form key.subkey=value"),
    ("backbone", "unknown backbone 'tiny-qwen2-vll'"),
    ("data", "not a UGData directory"),
])
def test_config_and_data_problems(capsys, monkeypatch, fake_data, tmp_path, kind, needle):
    run = tmp_path / "run"
    cfg = tmp_path / "c.yaml"
    raw = standin_config(fake_data, run)
    extra = []
    if kind == "not_yaml":
        cfg.write_text("backbone: {name_or_path: [unclosed\n")
    elif kind == "a_list":
        cfg.write_text("- backbone\n- data\n")
    elif kind != "missing":
        if kind == "backbone":
            raw["backbone"]["name_or_path"] = "tiny-qwen2-vll"
        if kind == "data":
            (tmp_path / "empty").mkdir()
            raw["data"]["path"] = str(tmp_path / "empty")
        cfg.write_text(yaml.safe_dump(raw))
        if kind == "override":
            extra = ["optim.lr"]
    code, err = _cli(capsys, monkeypatch, "train", "--config", cfg, *extra)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code == 2 and "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]
    assert not (run / "final").exists()
