"""Learning thresholds with the shipped hyperparameters and fixed seeds.

PPO on CartPole runs in the default suite (about a minute); the rest are `slow`
(`make test-full`).
"""

from __future__ import annotations

import pytest

from rl_harness import train
from tests.conftest import compose_config

NO_CHECKPOINTS = ["checkpoint.freq=0"]


def test_ppo_solves_cartpole_within_100k_steps() -> None:
    cfg = compose_config(["algo=ppo", "env=cartpole", "seed=0", *NO_CHECKPOINTS])
    assert cfg.n_timesteps <= 100_000
    result = train.run(cfg)
    assert result["mean_reward"] >= 475


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "env", "threshold"), [
    ("dqn", "cartpole", 475),
    ("a2c", "cartpole", 475),
    ("sac", "pendulum", -200),
    ("td3", "pendulum", -200),
])
def test_shipped_hparams_reach_threshold(algo: str, env: str, threshold: float) -> None:
    cfg = compose_config([f"algo={algo}", f"env={env}", "seed=0", *NO_CHECKPOINTS])
    result = train.run(cfg)
    assert result["mean_reward"] >= threshold
