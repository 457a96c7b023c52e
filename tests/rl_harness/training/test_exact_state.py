"""The training state's compact encodings give back the very generators they were taken from
(the end-to-end exactness of resume is tests/experiments/checks/test_resume_exactness.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from stable_baselines3.common.utils import set_random_seed

from rl_harness.training import exact_state


def draws() -> tuple[list[float], float, float]:
    return torch.rand(3).tolist(), float(np.random.rand()), random.random()


@pytest.fixture(autouse=True)
def _keep_global_generators():
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    torch.set_rng_state(saved[2])


def test_generators_untouched_since_the_seed_are_saved_as_the_seed() -> None:
    set_random_seed(11)
    saved = exact_state._global_rngs(11)
    assert saved == {name: {"seeded": 11} for name in ("python", "numpy", "torch")}
    expected = draws()
    draws()
    exact_state._restore_global_rngs(saved)
    assert draws() == expected


def test_generators_drawn_from_are_saved_whole_and_restored() -> None:
    set_random_seed(11)
    torch.rand(1)  # only torch drawn from
    saved = exact_state._global_rngs(11)
    assert saved["python"] == saved["numpy"] == {"seeded": 11}
    assert isinstance(saved["torch"], dict) and len(saved["torch"]["words"]) == 624 * 4
    expected = draws()
    draws()
    exact_state._restore_global_rngs(saved)
    assert draws() == expected
    set_random_seed(12)  # another run's seed: nothing is taken for seeded
    assert all(
        not isinstance(v, dict) or "seeded" not in v for v in exact_state._global_rngs(11).values()
    )


def test_states_in_the_first_format_still_restore() -> None:
    """Checkpoints written before the compact encodings hold whole states and torch's tensor."""
    torch.manual_seed(5)
    old = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    expected = draws()
    draws()
    exact_state._restore_global_rngs(old)
    assert draws() == expected


def test_monitor_history_is_left_out_so_the_state_does_not_grow_with_episodes() -> None:
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rl_harness.training.packing import Packer, Unpacker

    venv = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))])
    venv.seed(3)
    venv.reset()
    for _ in range(200):  # several episodes under a random policy
        venv.step(np.array([venv.action_space.sample()]))
    monitor = venv.envs[0]
    assert isinstance(monitor, Monitor) and len(monitor.episode_returns) >= 3
    history = {n: list(getattr(monitor, n)) for n in exact_state.MONITOR_HISTORY}
    packer = Packer()
    with_history = exact_state.env_state(venv, "env", [], packer)

    lists = {n: getattr(monitor, n) for n in exact_state.MONITOR_HISTORY}
    for n in exact_state.MONITOR_HISTORY:
        setattr(monitor, n, [])
    without = exact_state.env_state(venv, "env", [], Packer())
    vars(monitor).update(lists)

    assert with_history == without  # the same bytes, however many episodes were played
    assert {n: getattr(monitor, n) for n in exact_state.MONITOR_HISTORY} == history  # untouched
    assert monitor.rewards  # the episode under way is state: kept
    fresh = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))])
    exact_state.restore_env(fresh, with_history, Unpacker(packer.packed))
    restored = fresh.envs[0]
    assert restored.rewards == monitor.rewards and restored.total_steps == monitor.total_steps
    assert restored.episode_returns == restored.episode_lengths == []
