"""ONNX export: ONNX Runtime's actions equal the torch policy's deterministic actions."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime as ort
import pytest
from gymnasium import spaces
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from rl_harness.deploy import export
from rl_harness.errors import ConfigError
from rl_harness.training import saved_agent as agents
from tests.rl_harness import tabular_double

N = 1000


def onnx_actions(path: Path, obs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([export.OUTPUT], {export.INPUT: obs.astype(np.float32)})[0]


def visited(env_id: str, n: int = N, seed: int = 0) -> np.ndarray:
    """Observations an agent meets: a random-action rollout, restarted at each episode end."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    while len(out) < n:
        out.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return np.array(out, dtype=np.float32)


def test_trained_policy_with_normalization_matches_on_1000_observations(trained, tmp_path):
    agent = agents.from_run(trained.run_id, tmp_path / "agent")
    path = export.export_agent(agent, tmp_path / "policy.onnx")
    vecnorm = VecNormalize.load(
        str(agent.vecnormalize_path), DummyVecEnv([lambda: gym.make("CartPole-v1")])
    )
    obs = visited("CartPole-v1")
    expected, _ = agent.model.predict(vecnorm.normalize_obs(obs), deterministic=True)
    actions = onnx_actions(path, obs)
    assert actions.shape == expected.shape == (N,)
    np.testing.assert_array_equal(actions, expected)
    assert 0 < expected.mean() < 1  # both actions occur: a constant policy would prove little
    # the statistics are in the graph: raw observations in, not normalized ones
    unnormalized, _ = agent.model.predict(obs, deterministic=True)
    assert (unnormalized != expected).any()


@pytest.mark.parametrize(
    "cls, env_id",
    [
        (DQN, "CartPole-v1"),
        (SAC, "Pendulum-v1"),
        (TD3, "Pendulum-v1"),
        (PPO, "Pendulum-v1"),
        (PPO, "rl_harness.envs:Inventory-v0"),
    ],
)
def test_each_policy_kind_matches(cls, env_id: str, tmp_path: Path) -> None:
    env = gym.make(env_id)
    model = cls("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [16]})
    obs = visited(env_id)
    path = export.export(model, tmp_path / "policy.onnx")
    expected, _ = model.predict(obs, deterministic=True)
    actions = onnx_actions(path, obs)
    assert actions.shape == expected.shape
    if isinstance(env.action_space, spaces.Box):
        # float32 arithmetic in another order: equal to rounding, and within the bounds
        np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)
        assert (actions >= env.action_space.low).all() and (actions <= env.action_space.high).all()
        assert np.ptp(expected) > 0.01
    else:
        np.testing.assert_array_equal(actions, expected)
        assert len(np.unique(expected)) > 1


@pytest.mark.parametrize(
    "space", [spaces.Discrete(16), spaces.Discrete(6, start=3), spaces.MultiDiscrete([21, 11, 7])]
)
def test_tabular_agent_exports_its_greedy_table(space, tmp_path: Path) -> None:
    agent = tabular_double.GreedyTable(space, n_actions=5, seed=1)
    path = export.export(agent, tmp_path / "table.onnx")
    space.seed(0)
    obs = np.array([space.sample() for _ in range(N)])
    expected, _ = agent.predict(obs, deterministic=True)
    np.testing.assert_array_equal(onnx_actions(path, obs), expected)


def test_unsupported_policies_are_refused_clearly(tmp_path: Path) -> None:
    from sb3_contrib import RecurrentPPO

    model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", device="cpu", n_steps=16)
    with pytest.raises(ConfigError, match="recurrent policies are not exported"):
        export.export(model, tmp_path / "x.onnx")
    box = spaces.Box(-1, 1, (2,))
    table = tabular_double.GreedyTable(spaces.Discrete(3), n_actions=2)
    table.observation_space = box
    with pytest.raises(ConfigError, match="needs a Discrete or MultiDiscrete observation space"):
        export.export(table, tmp_path / "x.onnx")


def test_cli_exports_a_run(trained, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.onnx"
    export.main([f"run_id={trained.run_id}", f"out={out}"])
    assert out.stat().st_size > 0 and "exported ppo policy" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="unknown config key .runid. .did you mean .run_id.."):
        export.main(["runid=x"])
