"""Single-item inventory control with lost sales, a lead time and weekly demand seasonality.

The exact dynamics are in envs/inventory_spec.md; every constant is a constructor kwarg so
that `conf/env/custom.yaml` (and Optuna) can vary them. `inventory_vec` steps N copies at once
with numpy and `inventory_dp` computes the exact optimum, for an optimality gap (the folder
installs as `rl_harness.envs`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from rl_harness.envs.inventory_params import DEFAULT_WEEKLY_PATTERN, WEEKDAYS, InventoryParams
from rl_harness.envs.inventory_render import DAYS_SHOWN, draw_chart

RENDER_MODES = ("ansi", "rgb_array")


def make_spaces(params: InventoryParams) -> tuple[spaces.MultiDiscrete, spaces.Space]:
    """Observation and action spaces, shared with the vectorized env."""
    nvec = [params.capacity + 1] + [params.max_order + 1] * params.lead_time + [7]
    observation_space = spaces.MultiDiscrete(np.array(nvec, dtype=np.int64))
    if params.continuous_actions:
        action_space: spaces.Space = spaces.Box(
            0.0, float(params.max_order), shape=(1,), dtype=np.float32
        )
    else:
        action_space = spaces.Discrete(params.max_order + 1)
    return observation_space, action_space


class InventoryEnv(gym.Env):
    """Order stock each day to meet Poisson demand; unmet demand is lost.

    Observation: (on-hand, pipeline oldest first, weekday). Action: units to order,
    `Discrete(max_order + 1)`, or with `continuous_actions=True` a `Box(0, max_order, (1,))`
    rounded to the nearest integer. The episode is truncated (never terminated) after
    `horizon` days. `info` holds the day's accounting (demand, sales, lost, ordered, arrived,
    overflow and the revenue/cost terms whose signed sum is the reward).
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self,
        capacity: int = 20,
        max_order: int = 10,
        lead_time: int = 1,
        horizon: int = 364,
        initial_inventory: int = 10,
        demand_mean: float = 4.0,
        weekly_pattern: Sequence[float] = DEFAULT_WEEKLY_PATTERN,
        price: float = 6.0,
        unit_cost: float = 3.0,
        fixed_order_cost: float = 5.0,
        holding_cost: float = 0.25,
        lost_sale_penalty: float = 2.0,
        continuous_actions: bool = False,
        render_mode: str | None = None,
    ) -> None:
        self.params = InventoryParams(
            capacity=capacity,
            max_order=max_order,
            lead_time=lead_time,
            horizon=horizon,
            initial_inventory=initial_inventory,
            demand_mean=demand_mean,
            weekly_pattern=weekly_pattern,
            price=price,
            unit_cost=unit_cost,
            fixed_order_cost=fixed_order_cost,
            holding_cost=holding_cost,
            lost_sale_penalty=lost_sale_penalty,
            continuous_actions=continuous_actions,
        )
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.observation_space, self.action_space = make_spaces(self.params)
        self._means = [float(m) for m in self.params.daily_means]
        self.on_hand = self.params.initial_inventory
        self.pipeline: list[int] = [0] * self.params.lead_time
        self.t = 0
        self._last: dict[str, Any] | None = None
        self._history: dict[str, deque[int]] = {
            k: deque(maxlen=DAYS_SHOWN) for k in ("stock", "orders", "demand", "lost")
        }

    # -- gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.on_hand = self.params.initial_inventory
        self.pipeline = [0] * self.params.lead_time
        self.t = 0
        self._last = None
        for h in self._history.values():
            h.clear()
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        p = self.params
        if self.t >= p.horizon:
            raise RuntimeError("step() called after the episode was truncated; call reset()")
        ordered = self.units(action)
        order_cost = p.unit_cost * ordered + (p.fixed_order_cost if ordered > 0 else 0.0)
        if p.lead_time == 0:
            arrived = ordered
        else:
            arrived = self.pipeline.pop(0)
            self.pipeline.append(ordered)
        stock = self.on_hand + arrived
        self.on_hand = min(stock, p.capacity)
        overflow = stock - self.on_hand
        demand = self._sample_demand(self._means[self.t % 7])
        sales = min(demand, self.on_hand)
        lost = demand - sales
        self.on_hand -= sales
        info = {
            "demand": demand,
            "sales": sales,
            "lost": lost,
            "ordered": ordered,
            "arrived": arrived,
            "overflow": overflow,
            "revenue": p.price * sales,
            "order_cost": order_cost,
            "holding_cost": p.holding_cost * self.on_hand,
            "lost_sale_cost": p.lost_sale_penalty * lost,
        }
        reward = info["revenue"] - order_cost - info["holding_cost"] - info["lost_sale_cost"]
        self.t += 1
        truncated = self.t >= p.horizon
        if self.render_mode is not None:
            self._record(info)
        return self._obs(), float(reward), False, truncated, info

    def render(self) -> str | np.ndarray | None:
        """`ansi`: one line for the latest day; `rgb_array`: a chart of the last ~60 days."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode=...")
            return None
        if self.render_mode == "ansi":
            return self._ansi_line()
        p = self.params
        h = self._history
        scale = max(p.max_order, 2.0 * max(p.daily_means.max(), 1.0))
        return draw_chart(h["stock"], h["orders"], h["demand"], h["lost"], p.capacity, scale)

    # -- extras --------------------------------------------------------------------------

    def action_masks(self) -> np.ndarray:
        """All actions are always legal; all-True mask so sb3-contrib's MaskablePPO runs."""
        return np.ones(self.params.max_order + 1, dtype=bool)

    def units(self, action: Any) -> int:
        """Map an action of either action space to the integer units ordered."""
        a = np.asarray(action)
        if a.size != 1:
            raise ValueError(f"expected a single action, got shape {a.shape}")
        value = a.reshape(()).item()
        if self.params.continuous_actions:
            return int(np.clip(np.rint(value), 0, self.params.max_order))
        bad_float = isinstance(value, float) and not value.is_integer()
        if bad_float or not 0 <= value <= self.params.max_order:
            raise ValueError(
                f"action must be an integer in 0..{self.params.max_order}, got {value}"
            )
        return int(value)

    def _sample_demand(self, mean: float) -> int:
        """One Poisson draw; the single source of randomness (tests patch it)."""
        return int(self.np_random.poisson(mean))

    def _obs(self) -> np.ndarray:
        return np.array([self.on_hand, *self.pipeline, self.t % 7], dtype=np.int64)

    def _record(self, info: dict[str, Any]) -> None:
        self._last = info
        h = self._history
        h["stock"].append(self.on_hand)
        h["orders"].append(info["ordered"])
        h["demand"].append(info["demand"])
        h["lost"].append(info["lost"])

    def _ansi_line(self) -> str:
        pipe = " ".join(f"{x:2d}" for x in self.pipeline)
        if self._last is None:
            day = f"day {self.t:4d} {WEEKDAYS[self.t % 7]}"
            return f"{day} | start stock {self.on_hand:3d} | pipeline [{pipe}]\n"
        i = self._last
        reward = i["revenue"] - i["order_cost"] - i["holding_cost"] - i["lost_sale_cost"]
        day = self.t - 1
        return (
            f"day {day:4d} {WEEKDAYS[day % 7]} | order {i['ordered']:3d} arrived {i['arrived']:3d}"
            f" overflow {i['overflow']:2d} | demand {i['demand']:3d} sold {i['sales']:3d}"
            f" lost {i['lost']:3d} | stock {self.on_hand:3d} | pipeline [{pipe}]"
            f" | reward {reward:+8.2f}\n"
        )
