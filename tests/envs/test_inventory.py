"""The scalar InventoryEnv: hand-checked accounting, validation, checkers, rendering, make()."""

from __future__ import annotations

import math
from collections.abc import Iterable

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from rl_harness.envs.inventory import InventoryEnv
from rl_harness.envs.inventory_dp import optimal_value
from rl_harness.envs.inventory_vec import InventoryVecEnv
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from rl_harness import envs


def with_demand(env: InventoryEnv, demands: Iterable[int]) -> list[float]:
    """Make the env draw `demands` in order; returns the list of Poisson means it asked for."""
    it = iter(demands)
    means: list[float] = []

    def sample(mean: float) -> int:
        means.append(mean)
        return next(it)

    env._sample_demand = sample  # type: ignore[method-assign]
    return means


def reward_of(info: dict) -> float:
    return info["revenue"] - info["order_cost"] - info["holding_cost"] - info["lost_sale_cost"]


def test_lead_time_one_order_arrives_next_day_and_lost_sales():
    env = InventoryEnv(lead_time=1, initial_inventory=10)
    env.reset(seed=0)
    with_demand(env, [3, 15])
    obs, reward, terminated, truncated, info = env.step(5)
    # pay 3*5 + 5; nothing arrives; sell 3 of 10; hold 7.
    assert obs.tolist() == [7, 5, 1]
    assert reward == pytest.approx(6 * 3 - 20 - 0.25 * 7)
    assert (info["ordered"], info["arrived"], info["sales"], info["lost"]) == (5, 0, 3, 0)
    assert info["order_cost"] == 20 and info["holding_cost"] == 1.75
    obs, reward, terminated, truncated, info = env.step(0)
    # the 5 arrive: 12 on hand, demand 15 -> sell 12, lose 3.
    assert obs.tolist() == [0, 0, 2]
    assert (info["arrived"], info["sales"], info["lost"], info["demand"]) == (5, 12, 3, 15)
    assert info["order_cost"] == 0.0  # no fixed cost without an order
    assert reward == pytest.approx(6 * 12 - 2 * 3)
    assert reward == pytest.approx(reward_of(info))
    assert not terminated and not truncated


def test_lead_time_zero_order_arrives_now_and_overflow_is_lost():
    env = InventoryEnv(lead_time=0, initial_inventory=18, capacity=20)
    env.reset(seed=0)
    with_demand(env, [0, 4])
    obs, reward, _, _, info = env.step(5)
    assert obs.tolist() == [20, 1]
    assert (info["arrived"], info["overflow"]) == (5, 3)
    assert reward == pytest.approx(-(3 * 5 + 5) - 0.25 * 20)
    obs, reward, _, _, info = env.step(1)
    assert obs.tolist() == [16, 2] and info["overflow"] == 1
    assert reward == pytest.approx(6 * 4 - 8 - 0.25 * 16)


def test_pipeline_overflow_with_lead_time_two():
    env = InventoryEnv(lead_time=2, initial_inventory=18, max_order=10)
    env.reset(seed=0)
    with_demand(env, [0, 0, 1])
    assert env.step(10)[0].tolist() == [18, 0, 10, 1]
    assert env.step(0)[0].tolist() == [18, 10, 0, 2]
    obs, reward, _, _, info = env.step(0)
    assert obs.tolist() == [19, 0, 0, 3]
    assert (info["arrived"], info["overflow"], info["sales"]) == (10, 8, 1)
    assert reward == pytest.approx(6 - 0.25 * 19)


def test_demand_means_follow_weekly_pattern():
    pattern = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0.0)
    env = InventoryEnv(demand_mean=2.0, weekly_pattern=pattern, horizon=20)
    env.reset(seed=0)
    means = with_demand(env, [0] * 20)
    for _ in range(10):
        env.step(0)
    assert means == [2.0 * pattern[t % 7] for t in range(10)]


def test_truncates_exactly_at_horizon():
    env = InventoryEnv(horizon=5)
    obs, _ = env.reset(seed=1)
    flags = [env.step(1)[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    obs, _ = env.reset()
    assert obs.tolist() == [10, 0, 0] and env.t == 0


def test_seeded_reset_is_reproducible():
    env = InventoryEnv()

    def episode(seed: int) -> list[float]:
        env.reset(seed=seed)
        return [env.step(3)[1] for _ in range(30)]

    assert episode(7) == episode(7)
    assert episode(7) != episode(8)


def test_continuous_actions_round_and_clip():
    env = InventoryEnv(continuous_actions=True, lead_time=0, max_order=10)
    assert isinstance(env.action_space, gym.spaces.Box)
    env.reset(seed=0)
    with_demand(env, [0] * 4)
    ordered = [env.step(np.array([a], dtype=np.float32))[4]["ordered"] for a in (2.6, -1, 99, 0.4)]
    assert ordered == [3, 0, 10, 0]


@pytest.mark.parametrize("action", [-1, 11, 2.5])
def test_out_of_range_discrete_action_rejected(action):
    env = InventoryEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="0..10"):
        env.step(action)


BAD_KWARGS = [
    ({"capacity": -1}, "capacity"),
    ({"capacity": 2.5}, "capacity"),
    ({"max_order": -1}, "max_order"),
    ({"lead_time": -1}, "lead_time"),
    ({"horizon": 0}, "horizon"),
    ({"horizon": "10"}, "horizon"),
    ({"initial_inventory": 21}, "initial_inventory"),
    ({"initial_inventory": -1}, "initial_inventory"),
    ({"demand_mean": -0.1}, "demand_mean"),
    ({"demand_mean": math.nan}, "demand_mean"),
    ({"weekly_pattern": (1.0,) * 6}, "weekly_pattern"),
    ({"weekly_pattern": (1.0,) * 6 + (-1.0,)}, "weekly_pattern"),
    ({"weekly_pattern": "1111111"}, "weekly_pattern"),
    ({"price": -1.0}, "price"),
    ({"unit_cost": -1.0}, "unit_cost"),
    ({"fixed_order_cost": -1.0}, "fixed_order_cost"),
    ({"holding_cost": -1.0}, "holding_cost"),
    ({"lost_sale_penalty": -1.0}, "lost_sale_penalty"),
    ({"continuous_actions": "yes"}, "continuous_actions"),
]


@pytest.mark.parametrize("factory", [InventoryEnv, InventoryVecEnv, optimal_value])
@pytest.mark.parametrize(("kwargs", "name"), BAD_KWARGS)
def test_bad_kwargs_rejected_with_one_line_message(factory, kwargs, name):
    with pytest.raises(ValueError, match=name) as err:
        factory(**kwargs)
    assert "\n" not in str(err.value)


def test_bad_render_mode_rejected():
    with pytest.raises(ValueError, match="render_mode"):
        InventoryEnv(render_mode="human")


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized.*")
@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("lead_time", [0, 1, 3])
def test_env_checkers_pass(continuous, lead_time):
    env = InventoryEnv(continuous_actions=continuous, lead_time=lead_time)
    sb3_check_env(env, warn=False)
    for mode in (None, "ansi", "rgb_array"):
        made = gym.make(
            "Inventory-v0", continuous_actions=continuous, lead_time=lead_time, render_mode=mode
        )
        gym_check_env(made.unwrapped, skip_render_check=mode is None)  # raises on a violation
        obs, _ = made.reset(seed=0)
        assert made.observation_space.contains(obs)


def test_observation_and_action_spaces():
    env = InventoryEnv(capacity=30, max_order=6, lead_time=2)
    assert env.observation_space.nvec.tolist() == [31, 7, 7, 7]
    assert env.action_space.n == 7
    assert env.action_masks().tolist() == [True] * 7
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.int64 and obs in env.observation_space


def test_render_ansi_one_line_per_day():
    env = InventoryEnv(render_mode="ansi")
    env.reset(seed=0)
    with_demand(env, [6])
    env.step(4)
    line = env.render()
    assert isinstance(line, str) and line.count("\n") == 1
    assert "day    0 Mon" in line and "order   4" in line and "demand   6" in line


def test_render_rgb_array_chart():
    env = InventoryEnv(render_mode="rgb_array")
    env.reset(seed=0)
    blank = env.render()
    for _ in range(80):
        env.step(5)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape == blank.shape and not np.array_equal(frame, blank)
    assert env.metadata["render_fps"] > 0


def test_registered_id_makes_with_kwargs():
    env = gym.make("Inventory-v0", lead_time=0, horizon=3)
    assert env.unwrapped.params.lead_time == 0
    assert env.observation_space.shape == (2,)
    env.reset(seed=0)
    assert [env.step(0)[3] for _ in range(3)] == [False, False, True]
    assert isinstance(gym.make("envs:Inventory-v0").unwrapped, InventoryEnv)


def test_package_exports():
    assert set(envs.__all__) == {"InventoryEnv", "INVENTORY_ID"}
    assert envs.INVENTORY_ID in gym.registry


def test_chart_frames_carry_a_legend_and_axis_labels_outside_the_panels() -> None:
    from rl_harness.envs import inventory_render as r

    blank = r.template()
    ink = (blank < 200).any(axis=2)  # dark pixels: text
    assert ink[: r.LEGEND_PX].sum() > 100  # the legend
    assert ink[r.TOP0 : r.BOT0 + r.PANEL_PX, : r.LABEL_PX].sum() > 100  # the axis labels
    assert ink[r.BOT0 + r.PANEL_PX :].sum() > 100  # the time axis' label
    frame = r.draw_chart([50] * 10, [5] * 10, [7] * 10, [1] * 10, 100, 20)
    changed = (frame != blank).any(axis=2)
    assert changed[r.TOP0 : r.BOT0 + r.PANEL_PX, r.LEFT :].any()  # bars inside the panels
    assert not changed[: r.LEGEND_PX].any() and not changed[:, : r.LABEL_PX].any()
