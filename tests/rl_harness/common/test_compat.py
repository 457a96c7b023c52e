"""Each private (or discouraged) API that rl_harness.common.compat wraps, run against the installed
library: a release that moves one fails here, in CI, rather than in a user's sweep or run."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from rl_harness.common import compat


def test_attach_trial_reports_to_a_trial_another_handle_asked() -> None:
    storage = optuna.storages.InMemoryStorage()
    sweeper = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    asked = sweeper.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    tid = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("s"), asked.number
    )
    # the job's side: its own study handle with a pruner, and the trial found by number
    job = optuna.load_study(
        study_name="s", storage=storage, pruner=optuna.pruners.ThresholdPruner(lower=1.0)
    )
    trial = compat.attach_trial(job, tid)
    assert trial.number == asked.number and trial.params == asked.params
    trial.report(0.5, step=128)
    trial.set_user_attr("pruned_at", 128)
    assert trial.should_prune()
    stored = storage.get_trial(tid)
    assert stored.intermediate_values == {128: 0.5}
    assert stored.user_attrs["pruned_at"] == 128


@pytest.fixture
def mlflow_warnings() -> list[str]:
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("mlflow.utils.requirements_utils")
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_pinned_requirements_skips_mlflows_check_only_inside(mlflow_warnings: list[str]) -> None:
    from mlflow.utils.environment import _process_pip_requirements

    with compat.pinned_requirements():
        _process_pip_requirements([], pip_requirements=["optuna==0.0.1"])
    assert mlflow_warnings == []  # the name MLflow calls was replaced
    _process_pip_requirements([], pip_requirements=["optuna==0.0.1"])
    assert len(mlflow_warnings) == 1 and "optuna==0.0.1" in mlflow_warnings[0]  # and put back


def test_deterministic_action_matches_the_policys_predict() -> None:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, seed=0, device="cpu")
    obs = np.stack([model.observation_space.sample() for _ in range(8)]).astype(np.float32)
    with torch.no_grad():
        actions = compat.deterministic_action(model.policy, torch.as_tensor(obs))
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions.numpy(), expected)


def test_system_metrics_monitor_logs_cpu_and_memory_to_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    from rl_harness.tracking.store import tracking_uri
    from tests.waiting import wait_for

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    client = MlflowClient(tracking_uri())
    run = client.create_run(client.create_experiment("sys"))
    monitor = compat.system_metrics_monitor(run.info.run_id, tracking_uri(), resumed=False)
    monitor.start()
    key = "system/cpu_utilization_percentage"
    wait_for(lambda: key in client.get_run(run.info.run_id).data.metrics, "a first sample", 60)
    monitor.finish()
    metrics = client.get_run(run.info.run_id).data.metrics
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_a_run_shorter_than_one_sampling_interval_still_gets_a_sample() -> None:
    from mlflow import MlflowClient

    from rl_harness.tracking.store import tracking_uri

    client = MlflowClient(tracking_uri())
    run = client.create_run(client.create_experiment("short"))
    monitor = compat.system_metrics_monitor(run.info.run_id, tracking_uri(), resumed=False)
    monitor.start()  # the default interval is 10 s: the loop itself logs nothing before finish
    compat.finish_system_metrics(monitor)
    metrics = client.get_run(run.info.run_id).data.metrics
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_delete_artifacts_removes_one_folder_of_a_runs_artifacts(tmp_path: Path) -> None:
    from rl_harness.tracking import runs as tracking

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.txt").write_text("x")
    with tracking.mlflow_run("compat") as recorder:
        run_id = recorder.run_id
        assert run_id is not None
        recorder.client.log_artifacts(run_id, str(tmp_path / "a"), "keep")
        recorder.client.log_artifacts(run_id, str(tmp_path / "a"), "drop")
    client = tracking.client()
    compat.delete_artifacts(client.get_run(run_id).info.artifact_uri, "drop")
    assert [f.path for f in client.list_artifacts(run_id)] == ["keep"]
