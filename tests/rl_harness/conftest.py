"""A trained agent shared by the evaluate / serving / export tests: trained once per session.

PPO on CartPole for 512 steps with VecNormalize, so that every consumer must apply the run's
statistics. Each test gets a copy of the store (the autouse fixture's per-test MLflow DB is
replaced by it); artifacts stay where the session's training wrote them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import compose_config

TINY_PPO = [
    "algo=ppo",
    "env=cartpole",
    "env.normalize=true",
    "n_timesteps=512",
    "n_envs=2",
    "algo.n_steps=128",
    "algo.batch_size=64",
    "algo.n_epochs=2",
    "eval.freq=256",
    "eval.episodes=2",
    "eval.final.episodes=2",  # the closing evaluation as one batch of 2: `evaluate` repeats it
    "eval.final.n_envs=1",
    "checkpoint.freq=0",
    "seed=3",
]


@dataclass
class Trained:
    run_id: str
    result: dict
    store: Path  # the session's MLflow DB


@pytest.fixture(scope="session")
def trained_session(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Trained:
    from rl_harness.training import train

    root = tmp_path_factory.mktemp("trained")
    shutil.copy(empty_store, root / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        result = train.run(compose_config(TINY_PPO))
    return Trained(result["run_id"], result, root / "mlflow.db")


@pytest.fixture
def trained(trained_session: Trained, isolated: Path) -> Iterator[Trained]:
    """The session's trained run, in this test's own copy of the store."""
    shutil.copy(trained_session.store, isolated / "mlflow.db")
    yield trained_session
