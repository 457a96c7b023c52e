"""User mistakes fail early with one line naming the problem and what is accepted.

The bad-input matrix itself (every case, in-process and through the CLI) is in
tests/experiments/checks/test_bad_inputs.py: experiments/checks/bad_inputs.py owns its cases.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rl_harness.config.preflight import preflight
from rl_harness.errors import ConfigError
from rl_harness.training import train
from tests.conftest import compose_config


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rl_harness", *args], capture_output=True, text=True, timeout=120
    )


def test_unreachable_tracking_store_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(
        ConfigError, match="MLflow tracking store http://127.0.0.1:9 is unreachable"
    ):
        train.run(compose_config(["n_timesteps=256"]))


def test_unwritable_output_dir_fails_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "output_dir", lambda: Path("/proc/no/such/dir"))
    with pytest.raises(ConfigError, match="output directory /proc/no/such/dir is not writable"):
        train.run(compose_config(["n_timesteps=256"]))


def test_preflight_lets_any_constructor_argument_through() -> None:
    assert preflight(["algo.target_kl=0.02", "env.kwargs.sutton_barto_reward=true"]) == [
        "++algo.target_kl=0.02",
        "++env.kwargs.sutton_barto_reward=true",
    ]
    assert preflight(["--cfg", "job", "+extra=1", "seed=3"]) == [
        "--cfg",
        "job",
        "+extra=1",
        "seed=3",
    ]


def test_cfg_job_prints_the_composed_config() -> None:
    out = cli("--cfg", "job", "algo=dqn", "env=cartpole")
    assert out.returncode == 0
    assert "name: dqn" in out.stdout and "id: CartPole-v1" in out.stdout
    # from conf/hparams/dqn_cartpole.yaml (DQN's default is 10000)
    assert "  target_update_interval: 1000\n" in out.stdout


def test_output_folder_is_named_by_the_env_actually_trained(isolated: Path) -> None:
    out = cli(
        *("algo=a2c", "env.id=Acrobot-v1", "env.kwargs.render_mode=null", "n_timesteps=64"),
        *("eval.freq=0", "checkpoint.freq=0", "mlflow.enabled=false", "progress_bar=false"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    model = Path(out.stdout.strip().splitlines()[-1].rsplit("| model ", 1)[1])
    assert model.parent.name.endswith("_a2c_Acrobot-v1") and model.is_file()
    assert model.parent.parent.parent == isolated / "outputs"


def test_a_quoted_output_dir_is_created_without_its_quotes(isolated: Path) -> None:
    # the sweeper passes its workers hydra.sweep.dir='<path>' (was: a folder named ' here)
    target = isolated / "sweeps" / "a b"
    assert preflight([f"hydra.sweep.dir='{target}'", 'hydra.run.dir="runs/x"'])
    assert target.is_dir() and (isolated / "runs" / "x").is_dir()
    assert sorted(p.name for p in isolated.iterdir()) == ["mlflow.db", "runs", "sweeps"]
