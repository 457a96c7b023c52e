"""Learning thresholds with the shipped hyperparameters and fixed seeds.

All are `slow` (`make test-full`) but the quick Q-learning threshold on the custom task: a
learning check needs a real budget, and the fast suite must stay short without them. Every check
trains on SEED, the first report seed (rl_harness.common.seeds.REPORT): the shipped
hyperparameters were tuned on tuning seeds and chosen on validation seeds, so a pass here is not
the seed the search happened to like. The thresholds were set from seed 0 (a tuning seed) and the
validation seeds (in brackets); what the report seed reaches is measured when the tables are.
"""

from __future__ import annotations

import pytest
from rl_harness.envs.inventory_dp import agent_return

from rl_harness.build import registry as algos
from rl_harness.common import seeds
from rl_harness.training import train
from tests.conftest import compose_config

NO_CHECKPOINTS = ["checkpoint.freq=0"]
SEED = f"seed={seeds.REPORT.start}"


@pytest.mark.slow
def test_ppo_solves_cartpole_within_100k_steps() -> None:
    cfg = compose_config(["algo=ppo", "env=cartpole", SEED, *NO_CHECKPOINTS])
    assert cfg.n_timesteps <= 100_000
    result = train.run(cfg)
    assert result["mean_reward"] >= 475


def exact_optimality(result: dict, algo: str) -> float:
    """Exact expected return of the final deterministic policy, as a fraction of the optimum."""
    agent = algos.get_class(algo).load(result["model_path"], device="cpu")
    return agent_return(agent) / result["optimum"]


@pytest.mark.parametrize(
    ("algo", "overrides", "threshold"),
    [
        # a quarter of the shipped budget (its learning rate decays 4x as fast): past the best
        # (s, S) heuristic (94.8%); seed 0 (a tuning seed) reached 96.5%, report seed 8000 95.7%
        ("qlearning", ["n_timesteps=15000000", "eval.freq=0"], 0.95),
    ],
)
def test_custom_task_quick_threshold(algo: str, overrides: list[str], threshold: float) -> None:
    cfg = compose_config([f"algo={algo}", "env=custom", SEED, *NO_CHECKPOINTS, *overrides])
    assert exact_optimality(train.run(cfg), algo) >= threshold


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "env", "threshold"),
    [
        ("qlearning", "custom", 0.985),  # seed 0: 99.0% (5 validation seeds: 99.2%)
        ("ppo", "custom", 0.98),  # report seed 8000: 99.0% (experiments/results/report_ppo_cvar.md)
        ("dqn", "custom", 0.97),  # seed 0: 98.5% in tuning (5 validation seeds: 98.6%)
        # seed 0: 96.6% (5 validation seeds: 94.6-97.3%, IQM 97.0%); ~3.5 min
        ("sac", "custom_continuous", 0.95),
    ],
)
def test_custom_task_shipped_hparams(algo: str, env: str, threshold: float) -> None:
    cfg = compose_config([f"algo={algo}", f"env={env}", SEED, *NO_CHECKPOINTS])
    result = train.run(cfg)
    assert result["mean_reward"] / result["optimum"] >= threshold
    assert exact_optimality(result, algo) >= threshold


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "env", "threshold"),
    [
        # report seed 8000: 445.6 ± 34.8 (std 93.3): RL Zoo's DQN config does not solve
        # CartPole at every seed (the gate's seeds 0-2: 500 each)
        ("dqn", "cartpole", 400),
        ("a2c", "cartpole", 475),
        ("sac", "pendulum", -200),
        ("td3", "pendulum", -200),
    ],
)
def test_shipped_hparams_reach_threshold(algo: str, env: str, threshold: float) -> None:
    cfg = compose_config([f"algo={algo}", f"env={env}", SEED, *NO_CHECKPOINTS])
    result = train.run(cfg)
    assert result["mean_reward"] >= threshold
