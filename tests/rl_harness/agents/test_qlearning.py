"""QLearning: the update by hand, convergence to Q*, SB3 integration, persistence, errors, speed of
learning on FrozenLake/Taxi against the exact optimum."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium import spaces
from rl_harness.envs.random_mdp_vec import RandomMDPVecEnv
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize

from rl_harness.agents.qlearning import QLearning
from rl_harness.agents.tabular import ObsEncoder
from rl_harness.agents.tabular_optimum import optimum_summary, policy_return

CONF = Path(__file__).resolve().parents[3] / "conf" / "hparams"
# Two states, two actions, deterministic: (s, a) -> successors[s, a, 0] with reward rewards[s, a].
TWO_STATE = {"successors": [[[1], [0]], [[0], [1]]], "rewards": [[1.0, 0.0], [2.0, 0.0]]}


class Recorder(BaseCallback):
    """Keeps a copy of what ``learn`` exposes to callbacks at each step."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict] = []

    def _on_step(self) -> bool:
        keys = ("rows", "actions", "rewards", "dones", "new_obs")
        self.seen.append({k: np.copy(self.locals[k]) for k in keys})
        return True


def greedy_return(model: QLearning, env_id: str) -> tuple[float, float]:
    """Exact return of the greedy policy over the TimeLimit, and the finite-horizon optimum."""
    env = gym.make(env_id)
    horizon = env.spec.max_episode_steps
    policy = model.predict(np.arange(env.observation_space.n), deterministic=True)[0]
    return policy_return(env, policy, horizon), optimum_summary(env, horizon)["finite_horizon"]


def test_one_step_on_two_state_mdp_by_hand() -> None:
    env = RandomMDPVecEnv(num_envs=1, horizon=1000, **TWO_STATE)
    model = QLearning(env, learning_rate=0.5, gamma=0.9, initial_q_value=0.5, seed=1)
    rec = Recorder()
    model.learn(1, callback=rec)
    (s,), (a,) = rec.seen[0]["rows"], rec.seen[0]["actions"]
    # Q <- 0.5 + 0.5 * (r + 0.9 * 0.5 - 0.5), by hand for each (s, a):
    by_hand = {(0, 0): 0.975, (0, 1): 0.475, (1, 0): 1.475, (1, 1): 0.475}
    expected = np.full((2, 2), 0.5)
    expected[s, a] = by_hand[(s, a)]
    np.testing.assert_allclose(model.q_table, expected, rtol=0, atol=1e-15)
    assert model.num_timesteps == 1


@pytest.mark.parametrize("terminal", [False, True])
def test_truncation_bootstraps_from_terminal_observation(terminal: bool) -> None:
    # Every (s, a) leads to s1; horizon 1 truncates (or s1 terminates) after each step.
    env = RandomMDPVecEnv(
        num_envs=1,
        horizon=1,
        successors=[[[1], [1]], [[1], [1]]],
        rewards=np.zeros((2, 2)),
        terminal_states=(1,) if terminal else (),
    )
    model = QLearning(env, learning_rate=0.5, gamma=0.9, seed=0)
    model.q_table[1] = 10.0
    rec = Recorder()
    model.learn(1, callback=rec)
    (s,), (a,) = rec.seen[0]["rows"], rec.seen[0]["actions"]
    before = 0.0 if s == 0 else 10.0
    bootstrap = 0.0 if terminal else 0.9 * 10.0
    assert rec.seen[0]["dones"][0]
    assert model.q_table[s, a] == pytest.approx(before + 0.5 * (bootstrap - before))


def test_converges_to_q_star_on_chain() -> None:
    # Chain 0..4, state 4 terminal; action 1 moves right (reward 1 on entering 4), 0 moves left.
    n, gamma = 5, 0.9
    succ = np.array([[[max(s - 1, 0)], [min(s + 1, n - 1)]] for s in range(n)])
    rewards = np.array([[0.0, float(s + 1 == n - 1)] for s in range(n)])
    env = RandomMDPVecEnv(num_envs=16, horizon=30, terminal_states=(n - 1,),
                          successors=succ, rewards=rewards)  # fmt: skip
    model = QLearning(env, learning_rate=0.5, gamma=gamma, exploration_final_eps=1.0, seed=0)
    model.learn(50_000)
    s = np.arange(n - 1)
    q_star = np.stack([gamma ** (4 - np.maximum(s - 1, 0)), gamma ** (3 - s)], axis=1)
    np.testing.assert_allclose(model.q_table[: n - 1], q_star, atol=1e-6)


def test_converges_to_q_star_with_truncation_not_terminal() -> None:
    """A short fixed horizon that is *not* terminal: Q converges to the infinite-horizon Q*."""
    env = RandomMDPVecEnv(num_envs=64, n_states=10, n_actions=3, n_successors=1, horizon=5)
    model = QLearning(env, learning_rate=0.3, gamma=0.9, exploration_final_eps=1.0, seed=0)
    model.learn(200_000)
    np.testing.assert_allclose(model.q_table, env.q_star(0.9), atol=1e-6)


def test_stochastic_mdp_with_decaying_learning_rate() -> None:
    env = RandomMDPVecEnv(num_envs=256, n_states=10, n_actions=3, n_successors=2, horizon=50)
    lr = LinearSchedule(0.2, 0.0, 1.0)
    model = QLearning(env, learning_rate=lr, gamma=0.8, exploration_final_eps=1.0, seed=0)
    model.learn(1_000_000)
    np.testing.assert_allclose(model.q_table, env.q_star(0.8), atol=0.05)


@pytest.mark.parametrize("n_states", [50, 5000])  # dense-count path; set/sort path
def test_batched_update_equals_sequential_and_averages_duplicates(n_states: int) -> None:
    env = RandomMDPVecEnv(num_envs=8, n_states=n_states, n_actions=4)
    rng = np.random.default_rng(0)
    batched = QLearning(env, gamma=0.95, seed=0)
    batched.q_table[:] = rng.normal(size=batched.q_table.shape)
    sequential = QLearning(env, gamma=0.95, seed=0)
    sequential.q_table[:] = batched.q_table
    # 12 distinct pairs among states 0..19; bootstrap states 20..49 are never updated here.
    pairs = rng.choice(20 * 4, size=12, replace=False)
    rows, actions = pairs // 4, pairs % 4
    rewards, next_rows = rng.normal(size=12), rng.integers(20, 50, size=12)
    not_terminal = (rng.random(12) < 0.7).astype(float)
    batched._update(rows, actions, rewards, next_rows, not_terminal, 0.3)
    for i in range(12):
        sequential._update(rows[i : i + 1], actions[i : i + 1], rewards[i : i + 1],
                           next_rows[i : i + 1], not_terminal[i : i + 1], 0.3)  # fmt: skip
    np.testing.assert_array_equal(batched.q_table, sequential.q_table)
    # A pair repeated k times moves once, by alpha * mean of its TD errors.
    q0 = batched.q_table.copy()
    batched._update(np.array([3, 3, 3]), np.array([1, 1, 1]), np.array([1.0, 2.0, 6.0]),
                    np.array([30, 31, 32]), np.zeros(3), 0.3)  # fmt: skip
    assert batched.q_table[3, 1] == pytest.approx(q0[3, 1] + 0.3 * (3.0 - q0[3, 1]))
    assert np.array_equal(np.delete(batched.q_table.ravel(), 13), np.delete(q0.ravel(), 13))
    assert np.array_equal(batched.q_table[20:], sequential.q_table[20:])


def test_duplicates_on_big_table_use_the_sorted_path() -> None:
    env = RandomMDPVecEnv(num_envs=2, n_states=1000, n_actions=4)
    model = QLearning(env, gamma=0.0, seed=0)  # 4000 entries > 64 * batch: sort-based counts
    model._update(np.array([7, 7, 9]), np.array([2, 2, 0]), np.array([1.0, 3.0, 5.0]),
                  np.array([0, 0, 0]), None, 0.5)  # fmt: skip
    assert model.q_table[7, 2] == pytest.approx(1.0) and model.q_table[9, 0] == pytest.approx(2.5)
    assert np.count_nonzero(model.q_table) == 2


def test_same_seed_same_table() -> None:
    def run(seed: int) -> np.ndarray:
        venv = make_vec_env("FrozenLake-v1", n_envs=4, seed=seed)
        return QLearning(venv, seed=seed).learn(5_000).q_table

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_construction_errors() -> None:
    with pytest.raises(ValueError, match="only Discrete action spaces.*supported"):
        QLearning(make_vec_env("Pendulum-v1", n_envs=1), obs_bins=4)
    cartpole = make_vec_env("CartPole-v1", n_envs=1)
    with pytest.raises(ValueError, match="needs obs_bins"):
        QLearning(cartpole)
    with pytest.raises(ValueError, match="Box dim 1 has bounds"):
        QLearning(cartpole, obs_bins=10)
    with pytest.raises(ValueError, match=r"needs 1525\.9 MB, over max_table_mb=512"):
        QLearning(cartpole, obs_bins=100, obs_low=-1.0, obs_high=1.0)
    with pytest.raises(ValueError, match="obs_bins has 3 entries"):
        QLearning(cartpole, obs_bins=[2, 2, 2], obs_low=-1.0, obs_high=1.0)


def test_box_and_multidiscrete_encoding() -> None:
    box = spaces.Box(np.array([0.0, -1.0]), np.array([1.0, 1.0]), dtype=np.float64)
    enc = ObsEncoder(box, bins=[2, 4])
    obs = np.array([[0.25, -1.0], [0.75, 0.99], [5.0, -9.0], [0.5, 0.0]])
    np.testing.assert_array_equal(enc(obs), [0, 7, 4, 6])  # clipped, then 4 * bin0 + bin1
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(500, 2))
    edges = [np.linspace(0, 1, 3)[1:-1], np.linspace(-1, 1, 5)[1:-1]]
    cells = [np.digitize(np.clip(x[:, d], [0, -1][d], 1), edges[d]) for d in range(2)]
    np.testing.assert_array_equal(enc(x), np.ravel_multi_index(cells, (2, 4)))
    md = spaces.MultiDiscrete([3, 5, 2])
    samples = np.stack([md.sample() for _ in range(100)])
    np.testing.assert_array_equal(ObsEncoder(md)(samples), np.ravel_multi_index(samples.T, md.nvec))


def test_cartpole_with_bins_runs_and_predicts() -> None:
    venv = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    low = [-2.4, -3.0, -0.21, -3.5]
    model = QLearning(venv, obs_bins=[3, 3, 6, 6], obs_low=low, obs_high=[-v for v in low])
    model.learn(2_000)
    assert model.q_table.shape == (324, 2) and np.count_nonzero(model.q_table) > 0
    obs = venv.reset()
    assert model.predict(obs, deterministic=True)[0].shape == (4,)
    single, state = model.predict(obs[0], deterministic=True)
    assert single.shape == () and state is None


def test_predict_shapes_and_exploration() -> None:
    model = QLearning(make_vec_env("FrozenLake-v1", n_envs=2), seed=0)
    model.q_table[:, 2] = 1.0
    action, _ = model.predict(5, deterministic=True)
    assert action.shape == () and action == 2
    batch, _ = model.predict(np.arange(16), deterministic=True)
    assert batch.shape == (16,) and np.all(batch == 2)
    model.exploration_rate = 1.0
    explored, _ = model.predict(np.zeros(4000, dtype=np.int64))
    assert np.bincount(explored, minlength=4).min() > 800  # uniform over the 4 actions


def test_save_load_round_trip(tmp_path: Path) -> None:
    venv = make_vec_env("FrozenLake-v1", n_envs=4, seed=0)
    lr = LinearSchedule(0.2, 0.05, 0.5)
    model = QLearning(venv, learning_rate=lr, gamma=0.95, seed=0).learn(5_000)
    model.save(tmp_path / "model")  # no suffix: ".zip" added, as SB3 does
    assert (tmp_path / "model.zip").is_file()
    loaded = QLearning.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.q_table, model.q_table)
    assert loaded.num_timesteps == 5_000 and loaded.gamma == 0.95
    assert isinstance(loaded.learning_rate, LinearSchedule) and loaded.learning_rate(0.75) == 0.125
    assert loaded.get_hyperparameters() == model.get_hyperparameters()
    states = np.arange(16)
    np.testing.assert_array_equal(
        loaded.predict(states, deterministic=True)[0], model.predict(states, deterministic=True)[0]
    )
    assert loaded.get_env() is None
    loaded = QLearning.load(tmp_path / "model.zip", env=venv, gamma=0.5)
    assert loaded.gamma == 0.5
    loaded.learn(1_000)
    assert loaded.num_timesteps == 1_000


def test_save_load_box(tmp_path: Path) -> None:
    venv = make_vec_env("CartPole-v1", n_envs=1, seed=0)
    model = QLearning(venv, obs_bins=4, obs_low=-3.0, obs_high=3.0).learn(500)
    model.save(tmp_path / "cp.npz")
    loaded = QLearning.load(tmp_path / "cp.npz", env=venv)
    obs = np.random.default_rng(0).uniform(-3, 3, size=(100, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


def test_sb3_callbacks_progress_bar_and_evaluate_policy(tmp_path: Path) -> None:
    venv = make_vec_env("FrozenLake-v1", n_envs=4, seed=0)
    eval_env = make_vec_env("FrozenLake-v1", n_envs=2, seed=100)
    evals = EvalCallback(eval_env, eval_freq=250, n_eval_episodes=6, log_path=str(tmp_path),
                         best_model_save_path=str(tmp_path), verbose=0)  # fmt: skip
    ckpt = CheckpointCallback(save_freq=500, save_path=str(tmp_path / "ckpt"))
    model = QLearning(venv, seed=0)
    model.learn(4_000, callback=[evals, ckpt], progress_bar=True)
    assert model.num_timesteps == 4_000 and evals.n_calls == 1_000
    log = np.load(tmp_path / "evaluations.npz")
    np.testing.assert_array_equal(log["timesteps"], [1000, 2000, 3000, 4000])
    assert log["results"].shape == (4, 6)
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert saved == [f"rl_model_{n}_steps.zip" for n in (2000, 4000)]
    best = QLearning.load(tmp_path / "best_model.zip")
    assert best.q_table.shape == (16, 4)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10)
    assert 0.0 <= mean <= 1.0 and std >= 0.0


def test_callback_can_stop_training_and_learning_continues() -> None:
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 10

    model = QLearning(make_vec_env("FrozenLake-v1", n_envs=4, seed=0), seed=0)
    model.learn(10_000, callback=StopAt())
    assert model.num_timesteps == 40
    model.learn(100, reset_num_timesteps=False)
    assert model.num_timesteps == 140 and model._total_timesteps == 140


def test_vec_normalize_is_detected() -> None:
    venv = VecNormalize(make_vec_env("FrozenLake-v1", n_envs=2), norm_obs=False)
    assert QLearning(venv).get_vec_normalize_env() is venv


class Capture(KVWriter):
    """What a harness KVWriter (e.g. the MLflow one) receives."""

    def __init__(self) -> None:
        self.dumps: list[tuple[dict, int]] = []

    def write(self, key_values: dict, key_excluded: dict, step: int = 0) -> None:
        self.dumps.append((dict(key_values), step))


def test_logger_records_dqn_keys() -> None:
    capture = Capture()
    model = QLearning(make_vec_env("FrozenLake-v1", n_envs=4, seed=0), seed=0)
    model.set_logger(Logger(folder=None, output_formats=[capture]))
    model.learn(5_000, log_interval=20)
    assert len(capture.dumps) >= 5
    keys = {
        "rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/exploration_rate",
        "train/learning_rate", "time/fps", "time/total_timesteps", "time/episodes",
    }  # fmt: skip
    last, step = capture.dumps[-1]
    assert keys <= set(last) and step == last["time/total_timesteps"] <= 5_000
    assert last["time/episodes"] >= 20 * len(capture.dumps) and 0 <= last["rollout/ep_rew_mean"]
    assert last["train/learning_rate"] == 0.1 and 0.05 <= last["rollout/exploration_rate"] < 1


def test_default_logger_when_none_set() -> None:
    model = QLearning(make_vec_env("FrozenLake-v1", n_envs=2, seed=0), verbose=0)
    model.learn(200)
    assert isinstance(model.logger, Logger)


def test_learns_frozenlake_fast() -> None:
    venv = make_vec_env("FrozenLake-v1", n_envs=8, seed=0)
    model = QLearning(venv, learning_rate=0.1, gamma=0.99, seed=0).learn(50_000)
    success, optimum = greedy_return(model, "FrozenLake-v1")
    assert success >= optimum - 0.03


def test_learns_taxi_fast() -> None:
    venv = make_vec_env("Taxi-v4", n_envs=8, seed=0)
    model = QLearning(venv, learning_rate=0.5, gamma=0.99, seed=0).learn(100_000)
    mean_return, optimum = greedy_return(model, "Taxi-v4")
    assert mean_return >= optimum - 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env_id", "hparams", "tolerance"),
    [("FrozenLake-v1", "qlearning_frozenlake.yaml", 0.03), ("Taxi-v4", "qlearning_taxi.yaml", 0.5)],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shipped_hparams_reach_optimum(env_id: str, hparams: str, tolerance: float, seed: int):
    cfg = yaml.safe_load((CONF / hparams).read_text())
    venv = make_vec_env(env_id, n_envs=cfg["n_envs"], seed=seed)
    model = QLearning(venv, seed=seed, **cfg["algo"]).learn(cfg["n_timesteps"])
    value, optimum = greedy_return(model, env_id)
    assert value >= optimum - tolerance
    eval_env = make_vec_env(env_id, n_envs=4, seed=1000 + seed)
    sampled, _ = evaluate_policy(model, eval_env, n_eval_episodes=400)
    assert sampled >= optimum - tolerance - 0.1  # sampling noise on top of the exact check
