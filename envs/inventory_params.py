"""Validated parameters of the inventory-control task, shared by the scalar env, the
vectorized env and the exact DP so that all three reject bad input the same way."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

DEFAULT_WEEKLY_PATTERN = (0.6, 0.8, 1.0, 1.0, 1.2, 1.6, 0.8)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def _nonneg_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


@dataclass(frozen=True)
class InventoryParams:
    """The task's constants (see envs/inventory_spec.md); validated on construction."""

    capacity: int = 20
    max_order: int = 10
    lead_time: int = 1
    horizon: int = 364
    initial_inventory: int = 10
    demand_mean: float = 4.0
    weekly_pattern: Sequence[float] = DEFAULT_WEEKLY_PATTERN
    price: float = 6.0
    unit_cost: float = 3.0
    fixed_order_cost: float = 5.0
    holding_cost: float = 0.25
    lost_sale_penalty: float = 2.0
    continuous_actions: bool = False

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        put("capacity", _int("capacity", self.capacity, 0))
        put("max_order", _int("max_order", self.max_order, 0))
        put("lead_time", _int("lead_time", self.lead_time, 0))
        put("horizon", _int("horizon", self.horizon, 1))
        put(
            "initial_inventory",
            _int("initial_inventory", self.initial_inventory, 0, self.capacity),
        )
        for name in ("demand_mean", "price", "unit_cost", "fixed_order_cost", "holding_cost"):
            put(name, _nonneg_float(name, getattr(self, name)))
        put("lost_sale_penalty", _nonneg_float("lost_sale_penalty", self.lost_sale_penalty))
        pattern = self.weekly_pattern
        if isinstance(pattern, str | bytes) or not isinstance(pattern, Sequence | np.ndarray):
            raise ValueError(
                f"weekly_pattern must be a sequence of 7 numbers >= 0, got {pattern!r}"
            )
        if len(pattern) != 7:
            raise ValueError(f"weekly_pattern must have 7 entries (Mon..Sun), got {len(pattern)}")
        put(
            "weekly_pattern",
            tuple(_nonneg_float(f"weekly_pattern[{i}]", v) for i, v in enumerate(pattern)),
        )
        if not isinstance(self.continuous_actions, bool | np.bool_):
            raise ValueError(
                f"continuous_actions must be true or false, got {self.continuous_actions!r}"
            )
        put("continuous_actions", bool(self.continuous_actions))

    @property
    def obs_dim(self) -> int:
        """Length of the observation: on-hand, lead_time pipeline entries, weekday."""
        return self.lead_time + 2

    @property
    def daily_means(self) -> np.ndarray:
        """Poisson mean of demand for each weekday, Mon..Sun."""
        return self.demand_mean * np.asarray(self.weekly_pattern, dtype=np.float64)
