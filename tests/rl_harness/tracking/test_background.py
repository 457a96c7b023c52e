"""The recording helper process (rl_harness/recording.py): when it is used, how it fails.

What it records is checked against inline recording in test_train.py (parametrized both ways);
a trainer killed under it is checked in test_resume.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import stable_baselines3

from rl_harness.errors import ConfigError
from rl_harness.tracking import background as recording
from rl_harness.training import record_tasks, train
from tests.conftest import compose_config


def test_auto_records_inline_where_mlflow_is_loaded_and_bad_values_are_refused() -> None:
    assert "mlflow" in sys.modules  # the test process has it (conftest)
    assert recording.use_background("auto") is False
    assert recording.use_background(True) is True and recording.use_background(False) is False
    with pytest.raises(
        ConfigError,
        match=r"mlflow.background='often' is not one of: true, "
        "false, auto",
    ):
        recording.use_background("often")


def test_cli_process_never_loads_mlflow_when_the_helper_records(tmp_path: Path) -> None:
    # The point of the helper: the trainer pays neither MLflow's import nor its store setup.
    probe = (
        "import sys, runpy; sys.argv = ['rl_harness', 'n_timesteps=256', 'eval.freq=0', "
        f"'checkpoint.freq=0', 'progress_bar=false', 'hydra.run.dir={tmp_path}/run']\n"
        "try:\n    runpy.run_module('rl_harness', run_name='__main__')\n"
        "finally:\n    print('MLFLOW LOADED' if 'mlflow' in sys.modules else 'NO MLFLOW')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "NO MLFLOW" in out.stdout and "| eval" in out.stdout


def test_unreachable_store_fails_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    learned = []
    monkeypatch.setattr(stable_baselines3.PPO, "learn", lambda *a, **k: learned.append(1))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: refused
    cfg = compose_config(["n_timesteps=256", "mlflow.background=true"])
    with pytest.raises(
        ConfigError,
        match=r"MLflow tracking store http://127.0.0.1:9 is "
        "unreachable",
    ):
        train.run(cfg)
    assert learned == []


def test_helper_without_a_go_ahead_touches_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CLI run prestarts the helper; a config error found after that must leave no trace.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/fresh.db")
    recording.prestart(record_tasks.HELPER)
    helper = recording._helper
    assert helper is not None
    recording._helper = None
    helper.stdin.close()  # the trainer exits
    assert helper.wait(timeout=120) == 0
    assert not (tmp_path / "fresh.db").exists()


def test_a_live_background_run_is_not_judged_dead_by_another_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The owner tags are the trainer's (pid and start time together): with the helper's start
    # time beside the trainer's pid, any other run starting on this host marked it FAILED.
    from mlflow import MlflowClient

    from rl_harness.common import processes
    from rl_harness.tracking import runs
    from rl_harness.tracking.store import HOST_TAG, PID_START_TAG, PID_TAG

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    recorder = recording.begin(record_tasks.HELPER)
    with recording.background_run(recorder, experiment="owners") as run:
        client = MlflowClient(uri)
        opened = client.get_run(str(run.run_id))
        tags = opened.data.tags
        assert tags[PID_TAG] == str(os.getpid()) and tags[PID_START_TAG] == processes.start_time(
            os.getpid()
        )
        with monkeypatch.context() as m:  # another process starting in the same experiment
            m.setattr(os, "getpid", lambda: recorder.proc.pid)
            assert runs.mark_dead_runs(client, opened.info.experiment_id) == 0
        assert processes.alive(tags[HOST_TAG], os.getpid(), tags[PID_START_TAG]) is True
        assert client.get_run(str(run.run_id)).info.status == "RUNNING"
    ended = client.get_run(str(run.run_id))
    assert ended.info.status == "FINISHED" and "error" not in ended.data.tags
