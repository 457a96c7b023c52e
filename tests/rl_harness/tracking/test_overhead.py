"""What keeps tracking cheap (experiments/benchmarks/overhead.py measures it): the recording helper
never loads torch or SB3, the spaces it packages are the model's own, and MLflow's telemetry
is off before MLflow is first imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from stable_baselines3 import PPO

from rl_harness.agents.qlearning import QLearning
from rl_harness.common import space_codec
from rl_harness.training import model_logging

ROOT = Path(__file__).resolve().parents[3]
CI_MARKERS = ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL")


def _python(code: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_saved_spaces_are_those_the_model_loads_with(tmp_path: Path, env_id: str) -> None:
    model = PPO("MlpPolicy", env_id, n_steps=64, batch_size=64, device="cpu")
    model.save(tmp_path / "model.zip")
    obs, act = model_logging.saved_spaces("ppo", tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    assert obs == loaded.observation_space and act == loaded.action_space
    assert space_codec.to_json(obs) == space_codec.to_json(loaded.observation_space)


def test_a_model_in_another_format_is_read_by_its_own_load(tmp_path: Path) -> None:
    model = QLearning(gym.make("FrozenLake-v1"))
    model.save(tmp_path / "model.zip")  # an archive of JSON and arrays, no SB3 `data`
    obs, act = model_logging.saved_spaces("qlearning", tmp_path / "model.zip")
    assert obs == model.observation_space and act == model.action_space


def test_recording_helper_loads_neither_torch_nor_sb3(tmp_path: Path) -> None:
    # The helper prewarms and packages the policy without the agent: importing torch there
    # cost ~4.5 s of CPU per tracked run (issue 12).
    PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="cpu").save(
        tmp_path / "model.zip"
    )
    probe = (
        "import sys\n"
        "from rl_harness.training import model_logging, record_tasks\n"
        "record_tasks.prewarm()\n"
        f"obs, act = model_logging.saved_spaces('ppo', {str(tmp_path / 'model.zip')!r})\n"
        "print(obs.shape, act.n)\n"
        "print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))\n"
    )
    assert _python(probe).splitlines() == ["(4,) 2", "[]"]


def test_mlflow_telemetry_is_off_when_tracking_imports_mlflow() -> None:
    env = {k: v for k, v in os.environ.items() if k not in CI_MARKERS}
    env.pop("MLFLOW_DISABLE_TELEMETRY", None)
    probe = (
        "from rl_harness.tracking import runs\n"
        "from mlflow.telemetry.client import get_telemetry_client\n"
        "print(get_telemetry_client())\n"
    )
    assert _python(probe, env).strip() == "None"
