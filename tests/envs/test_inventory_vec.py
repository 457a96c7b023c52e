"""InventoryVecEnv: same dynamics as the scalar env, and a well-behaved SB3 VecEnv."""

from __future__ import annotations

import numpy as np
import pytest
from rl_harness.envs.inventory import InventoryEnv
from rl_harness.envs.inventory_dp import best_s_S
from rl_harness.envs.inventory_vec import InventoryVecEnv
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecMonitor

from tests.envs.test_inventory import with_demand

ACCOUNTING = (
    "demand sales lost ordered arrived overflow revenue order_cost holding_cost lost_sale_cost"
).split()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lead_time": 0},
        {"lead_time": 1},
        {"lead_time": 3, "capacity": 12},
        {"continuous_actions": True},
    ],
)
def test_matches_scalar_step_by_step_given_same_demand(kwargs):
    """Same demands and actions -> identical obs, rewards, accounting, ends and resets."""
    n, horizon = 4, 9
    rng = np.random.default_rng(0)
    demand = rng.poisson(6.0, size=(2 * horizon, n))  # two episodes: crosses the autoreset
    vec = InventoryVecEnv(n, horizon=horizon, **kwargs)
    vec_means: list[float] = []
    rows = iter(demand)
    vec._sample_demand = lambda mean: vec_means.append(mean) or next(rows)
    scalars = [InventoryEnv(horizon=horizon, **kwargs) for _ in range(n)]
    scalar_means = []
    for i, env in enumerate(scalars):
        env.reset(seed=i)
        scalar_means.append(with_demand(env, list(demand[:horizon, i]) + list(demand[horizon:, i])))
    obs = vec.reset()
    assert obs.dtype == np.int64 and obs.shape == (n, vec.params.obs_dim)
    for t in range(2 * horizon):
        if kwargs.get("continuous_actions"):
            actions = rng.uniform(-1, 12, size=(n, 1)).astype(np.float32)
        else:
            actions = rng.integers(0, 11, size=n)
        obs, rewards, dones, infos = vec.step(actions)
        for i, env in enumerate(scalars):
            s_obs, s_rew, _, s_trunc, s_info = env.step(actions[i])
            assert rewards[i] == pytest.approx(s_rew)
            assert {k: vec.last_step[k][i] for k in ACCOUNTING} == pytest.approx(s_info)
            assert dones[i] == s_trunc
            if s_trunc:
                assert infos[i]["TimeLimit.truncated"] is True
                np.testing.assert_array_equal(infos[i]["terminal_observation"], s_obs)
                s_obs, _ = env.reset()
            else:
                assert infos[i] == {}
            np.testing.assert_array_equal(obs[i], s_obs)
        assert dones.all() == (t % horizon == horizon - 1)
    assert vec_means == scalar_means[0]


def test_return_distribution_matches_scalar_for_s_S_policy():
    """Same (s,S) policy, independent randomness: returns agree in mean and distribution."""
    stats = pytest.importorskip("scipy.stats")
    horizon = 91
    policy = best_s_S(horizon=horizon)
    vec = InventoryVecEnv(2000, seed=1, horizon=horizon)
    obs, total = vec.reset(), np.zeros(vec.num_envs)
    for _ in range(horizon):
        obs, rewards, dones, _ = vec.step(policy.order(obs[:, :-1].sum(axis=1)))
        total += rewards
    assert dones.all()
    env, scalar = InventoryEnv(horizon=horizon), []
    for ep in range(300):
        obs, _ = env.reset(seed=ep)
        ret, done = 0.0, False
        while not done:
            obs, reward, _, done, _ = env.step(policy.act(obs))
            ret += reward
        scalar.append(ret)
    scalar = np.array(scalar)
    se = np.sqrt(total.var() / total.size + scalar.var() / scalar.size)
    assert abs(total.mean() - scalar.mean()) < 4 * se
    assert abs(total.mean() - policy.value) < 4 * total.std() / np.sqrt(total.size)
    assert stats.ks_2samp(total, scalar).pvalue > 1e-3


def test_seeding_reproducible_and_seed_method():
    def run(env: InventoryVecEnv) -> np.ndarray:
        env.reset()
        return np.stack([env.step(np.full(env.num_envs, 3))[1] for _ in range(20)])

    a, b = InventoryVecEnv(16, seed=3), InventoryVecEnv(16, seed=3)
    np.testing.assert_array_equal(run(a), run(b))
    assert not np.array_equal(run(a), run(InventoryVecEnv(16, seed=4)))
    a.seed(11)
    b.seed(11)
    np.testing.assert_array_equal(run(a), run(b))


def test_vec_monitor_and_evaluate_policy():
    horizon = 30
    venv = VecMonitor(InventoryVecEnv(4, seed=0, horizon=horizon))
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    returns, lengths = evaluate_policy(model, venv, n_eval_episodes=8, return_episode_rewards=True)
    assert len(returns) == 8 and lengths == [horizon] * 8
    venv.reset()
    total = np.zeros(4)
    for _ in range(horizon):
        _, rewards, dones, infos = venv.step(np.full(4, 2))
        total += rewards
    assert dones.all() and [i["episode"]["l"] for i in infos] == [horizon] * 4
    np.testing.assert_allclose([i["episode"]["r"] for i in infos], total, rtol=1e-5)


def test_attributes_masks_and_wrappers():
    vec = InventoryVecEnv(5, max_order=4)
    assert vec.get_attr("capacity") == [20] * 5
    assert vec.get_attr("max_order", indices=[0, 2]) == [4, 4]
    assert vec.env_is_wrapped(VecMonitor) == [False] * 5
    masks = np.stack(vec.env_method("action_masks"))
    assert masks.shape == (5, 5) and masks.all()
    assert vec.has_attr("action_masks") and not vec.has_attr("no_such_thing")
    with pytest.raises(ValueError, match="capacity"):
        vec.set_attr("capacity", 3)
    with pytest.raises(AttributeError, match="action_masks"):
        vec.env_method("render")


def test_bad_actions_rejected():
    vec = InventoryVecEnv(3)
    vec.reset()
    for bad in (np.array([0, 1, 11]), np.array([-1, 0, 0]), np.array([1.5, 0, 0]), np.zeros(2)):
        with pytest.raises(ValueError, match="action"):
            vec.step(bad)


def test_ppo_and_dqn_learn_smoke():
    venv = VecMonitor(InventoryVecEnv(8, seed=0, horizon=64))
    ppo = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=1, seed=0).learn(2048)
    assert ppo.num_timesteps == 2048 and len(ppo.ep_info_buffer) > 0  # episodes completed
    dqn = DQN("MlpPolicy", venv, learning_starts=64, buffer_size=1000, seed=0).learn(256)
    assert dqn.num_timesteps == 256 and dqn.replay_buffer.size() > 0


def test_maskable_ppo_smoke():
    contrib = pytest.importorskip("sb3_contrib")
    venv = InventoryVecEnv(4, seed=0, horizon=32)
    model = contrib.MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1)
    model.learn(128)
    assert model.num_timesteps == 128
