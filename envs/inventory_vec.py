"""N copies of the inventory task stepped at once with numpy, as an SB3 `VecEnv`.

Why: a `DummyVecEnv` of `InventoryEnv`s costs ~10 us per copy-step in Python; here a step of
all copies is a handful of numpy ops, which tabular baselines stepping ~1000 copies need.
All copies share t (same horizon, same start), so they end and auto-reset together.

Per-step infos are empty dicts except at the end of an episode, where each carries
`terminal_observation` and `TimeLimit.truncated=True`. The day's accounting (the scalar env's
`info` keys, as (num_envs,) arrays) is on `self.last_step` after every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from rl_harness.envs.inventory import make_spaces
from rl_harness.envs.inventory_params import InventoryParams
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

_PARAM_NAMES = frozenset(f.name for f in fields(InventoryParams))


class InventoryVecEnv(VecEnv):
    """`num_envs` independent copies of `InventoryEnv(**env_kwargs)` with one shared RNG.

    Actions: an int array (num_envs,) in 0..max_order, or with `continuous_actions=True` a
    float array (num_envs, 1) that is rounded and clipped. Observations: int64 array
    (num_envs, lead_time + 2) = (on-hand, pipeline oldest first, weekday).
    """

    # A report of the step before, rewritten by the next: a checkpoint's training state leaves
    # it out (rl_harness.training.exact_state).
    exact_state_transient = ("last_step",)

    def __init__(self, num_envs: int = 8, seed: int | None = None, **env_kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        render_mode = env_kwargs.pop("render_mode", None)
        if render_mode is not None:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported by InventoryVecEnv; "
                "render a single InventoryEnv instead"
            )
        self.params = InventoryParams(**env_kwargs)
        self.render_mode = None
        observation_space, action_space = make_spaces(self.params)
        super().__init__(int(num_envs), observation_space, action_space)
        p = self.params
        self._means = p.daily_means.tolist()
        self._rng = np.random.default_rng(seed)
        self._state = np.zeros((self.num_envs, p.obs_dim), dtype=np.int64)
        self._actions: np.ndarray | None = None
        self.t = 0
        self.last_step: dict[str, np.ndarray] = {}
        self._reset_state()

    # -- VecEnv API ----------------------------------------------------------------------

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            # One generator drives all copies, so only the first seed is used.
            self._rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._reset_state()
        return self._state.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = self._to_units(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        a, self._actions = self._actions, None
        p, st, lead = self.params, self._state, self.params.lead_time
        if lead == 0:
            arrived = a
        else:
            arrived = st[:, 1].copy()
            st[:, 1:lead] = st[:, 2 : lead + 1]
            st[:, lead] = a
        stock = st[:, 0] + arrived
        on_hand = np.minimum(stock, p.capacity)
        overflow = stock - on_hand
        demand = self._sample_demand(self._means[self.t % 7])
        sales = np.minimum(demand, on_hand)
        lost = demand - sales
        on_hand -= sales
        st[:, 0] = on_hand
        revenue = p.price * sales
        order_cost = p.unit_cost * a + p.fixed_order_cost * (a > 0)
        holding_cost = p.holding_cost * on_hand
        lost_sale_cost = p.lost_sale_penalty * lost
        rewards = revenue - order_cost - holding_cost - lost_sale_cost
        self.last_step = {
            "demand": demand,
            "sales": sales,
            "lost": lost,
            "ordered": a,
            "arrived": arrived,
            "overflow": overflow,
            "revenue": revenue,
            "order_cost": order_cost,
            "holding_cost": holding_cost,
            "lost_sale_cost": lost_sale_cost,
        }
        self.t += 1
        st[:, -1] = self.t % 7
        if self.t < p.horizon:
            dones = np.zeros(self.num_envs, dtype=bool)
            return st.copy(), rewards, dones, [{} for _ in range(self.num_envs)]
        terminal = st.copy()
        infos = [
            {"terminal_observation": terminal[i], "TimeLimit.truncated": True}
            for i in range(self.num_envs)
        ]
        self._reset_state()
        return st.copy(), rewards, np.ones(self.num_envs, dtype=bool), infos

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Env kwargs (e.g. "capacity") and attributes of this object, once per copy."""
        source = self.params if attr_name in _PARAM_NAMES else self
        value = getattr(source, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on this object (shared by all copies); env kwargs are fixed."""
        if attr_name in _PARAM_NAMES:
            raise ValueError(
                f"{attr_name} is fixed at construction; build a new InventoryVecEnv instead"
            )
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        """Only "action_masks" exists per copy (all-True masks, for sb3-contrib MaskablePPO)."""
        if method_name != "action_masks":
            raise AttributeError(
                f"InventoryVecEnv has no per-copy method {method_name!r}; only 'action_masks'"
            )
        return [np.ones(self.params.max_order + 1, dtype=bool) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """The copies are not gymnasium envs, so none is wrapped."""
        return [False for _ in self._get_indices(indices)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Reseed the shared generator at the next reset() (only the first seed is used)."""
        return super().seed(seed)

    # -- extras --------------------------------------------------------------------------

    def action_masks(self) -> np.ndarray:
        """All-True (num_envs, max_order + 1): every order size is always legal."""
        return np.ones((self.num_envs, self.params.max_order + 1), dtype=bool)

    def _to_units(self, actions: np.ndarray) -> np.ndarray:
        a = np.asarray(actions)
        if a.size != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got shape {a.shape}")
        a = a.reshape(self.num_envs)
        max_order = self.params.max_order
        if self.params.continuous_actions:
            return np.clip(np.rint(a), 0, max_order).astype(np.int64)
        units = a.astype(np.int64)
        if (
            units.min() < 0
            or units.max() > max_order
            or (a.dtype.kind == "f" and (a != units).any())
        ):
            raise ValueError(f"actions must be integers in 0..{max_order}")
        return units

    def _sample_demand(self, mean: float) -> np.ndarray:
        """Poisson demand of all copies for one day (the only randomness; tests patch it)."""
        return self._rng.poisson(mean, self.num_envs)

    def _reset_state(self) -> None:
        self.t = 0
        self._state[:] = 0
        self._state[:, 0] = self.params.initial_inventory
