"""Exact optima: hand-checked on a two-state MDP, cross-checked by simulation on FrozenLake/Taxi."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from rl_harness.agents.tabular_optimum import (
    optimal_value_iteration,
    optimum_summary,
    policy_return,
    transition_arrays,
)


class TwoStateEnv(gym.Env):
    """s0 --a0 (p=1, r=1)--> s1; s0 --a1 (r=0)--> s0; s1 --a0 (r=0)--> end; s1 --a1 (r=2)--> end."""

    def __init__(self) -> None:
        self.observation_space, self.action_space = spaces.Discrete(2), spaces.Discrete(2)
        self.P = {
            0: {0: [(1.0, 1, 1.0, False)], 1: [(1.0, 0, 0.0, False)]},
            1: {0: [(1.0, 1, 0.0, True)], 1: [(0.5, 1, 2.0, True), (0.5, 0, 2.0, True)]},
        }
        self.initial_state_distrib = np.array([1.0, 0.0])


def test_two_state_by_hand() -> None:
    env = TwoStateEnv()
    rewards, cont, d0 = transition_arrays(env)
    np.testing.assert_allclose(rewards, [[1.0, 0.0], [0.0, 2.0]])
    assert cont[1].sum() == 0.0 and cont[0, 0, 1] == 1.0
    values, policy = optimal_value_iteration(env, gamma=1.0)
    np.testing.assert_allclose(values, [3.0, 2.0])  # s0: 1 + 2, s1: 2
    np.testing.assert_array_equal(policy, [0, 1])
    v1, p1 = optimal_value_iteration(env, horizon=1)
    np.testing.assert_allclose(v1, [1.0, 2.0])
    v2, p2 = optimal_value_iteration(env, horizon=2)
    np.testing.assert_allclose(v2, [3.0, 2.0])
    assert p2.shape == (2, 2) and p2[0, 0] == 0
    assert policy_return(env, policy, horizon=1) == pytest.approx(1.0)
    assert policy_return(env, policy, horizon=5) == pytest.approx(3.0)
    assert policy_return(env, [1, 1], horizon=5) == pytest.approx(0.0)


def test_frozenlake_optimum_and_exact_evaluation_match_simulation() -> None:
    env = gym.make("FrozenLake-v1")
    values, policy = optimal_value_iteration(env, gamma=0.99)
    summary = optimum_summary(env, horizon=100)
    # Known figures for the 4x4 slippery map: 0.744 within 100 steps, ~0.74 stationary.
    assert summary["finite_horizon"] == pytest.approx(0.7442, abs=1e-3)
    assert summary["stationary"] <= summary["finite_horizon"] + 1e-12
    exact = policy_return(env, policy, horizon=100)
    assert exact == pytest.approx(0.7402, abs=1e-3)
    # Undiscounted eventual success from the start state is 0.8235 (=14/17) for this map.
    assert optimal_value_iteration(env, gamma=1.0)[0][0] == pytest.approx(14 / 17, abs=1e-6)
    rng = np.random.default_rng(0)
    wins, episodes = 0, 4000
    for i in range(episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31)) if i == 0 else None)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(policy[obs]))
            done = terminated or truncated
        wins += reward
    assert wins / episodes == pytest.approx(exact, abs=0.025)  # ~3.6 standard errors


def test_taxi_optimum() -> None:
    env = gym.make("Taxi-v4")
    summary = optimum_summary(env, horizon=200, gammas=(0.99,))
    assert summary["finite_horizon"] == pytest.approx(summary["stationary"], abs=1e-9)
    assert 7.5 < summary["finite_horizon"] < 8.5
