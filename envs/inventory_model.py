"""The inventory task as an explicit MDP (exact per-weekday expected rewards and transition
matrices), shared by the DP solver and the exact evaluation of heuristic policies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from rl_harness.envs.inventory_params import InventoryParams

# states x horizon above which the DP refuses (memory for the policy table and time).
MAX_STATE_STEPS = 20_000_000


def poisson_pmf(mean: float, n: int) -> np.ndarray:
    """P(D = k) for k = 0..n-1, computed in log space so that large means do not underflow."""
    if mean == 0.0:
        return np.eye(1, n).ravel()
    k = np.arange(n)
    log_fact = np.array([math.lgamma(i + 1.0) for i in range(n)])
    return np.exp(k * math.log(mean) - mean - log_fact)


def demand_terms(mean: float, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected sales E[min(D, y)] for y = 0..capacity and the next-on-hand matrix.

    `trans[y, z]` = P(max(y - D, 0) = z): P(D = y - z) for z >= 1, the tail P(D >= y) at 0.
    """
    n = capacity + 1
    pmf = poisson_pmf(mean, n)
    at_least = np.concatenate(([1.0], np.clip(1.0 - np.cumsum(pmf)[:-1], 0.0, 1.0)))  # P(D>=y)
    sales = np.concatenate(([0.0], np.cumsum(at_least[1:])))  # sum_{k<y} P(D > k)
    y, z = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    trans = np.where((z >= 1) & (z <= y), pmf[np.clip(y - z, 0, n - 1)], 0.0)
    trans[:, 0] = at_least
    return sales, trans


def expect_next(trans: np.ndarray, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """trans @ v in column blocks of 128.

    Why: for wide v (many candidate policies) BLAS splits this small product across threads,
    which was ~10x slower than one thread when the cores were busy; blocks stay single-threaded.
    """
    out = np.empty((trans.shape[0], v.shape[1])) if out is None else out
    for i in range(0, v.shape[1], 128):
        np.matmul(trans, v[:, i : i + 128], out=out[:, i : i + 128])
    return out


@dataclass(frozen=True, eq=False)
class InventoryModel:
    """States are (x, p1..pL) flattened C-order: index = x * n_pipe + pipeline index."""

    params: InventoryParams
    n_onhand: int
    n_pipe: int
    on_hand: np.ndarray  # (S,)
    pipeline: np.ndarray  # (S, L), oldest first
    base: np.ndarray  # (7, S, A): expected reward of action a in state s on weekday d
    trans: np.ndarray  # (7, C+1, C+1): P(next on-hand = z | stock after arrival = y)
    next_flat: np.ndarray  # (S, A): y * n_pipe + next pipeline index

    @property
    def n_states(self) -> int:
        return self.n_onhand * self.n_pipe

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.n_onhand,) + (self.params.max_order + 1,) * self.params.lead_time

    @property
    def position(self) -> np.ndarray:
        """Inventory position (on-hand + pipeline) of every state."""
        return self.on_hand + self.pipeline.sum(axis=1)

    @property
    def action_dtype(self) -> type:
        return np.int16 if self.params.max_order < 2**15 else np.int64


def model_for(env_kwargs: dict[str, Any], max_state_steps: int = MAX_STATE_STEPS) -> InventoryModel:
    """Validate env kwargs, refuse state spaces that are too large, build (cached) the MDP."""
    kwargs = {k: v for k, v in env_kwargs.items() if k != "render_mode"}
    params = InventoryParams(**kwargs)
    n_states = (params.capacity + 1) * (params.max_order + 1) ** params.lead_time
    size = n_states * params.horizon
    if size > max_state_steps:
        raise ValueError(
            f"DP too large: {n_states:,} states x horizon {params.horizon} = {size:,} exceeds "
            f"the limit {max_state_steps:,}; reduce lead_time, max_order, capacity or horizon"
        )
    return _build(params)


@lru_cache(maxsize=8)
def _build(params: InventoryParams) -> InventoryModel:
    cap, lead, n_act = params.capacity, params.lead_time, params.max_order + 1
    n_pipe = n_act**lead
    grid = np.indices((cap + 1,) + (n_act,) * lead).reshape(lead + 1, -1)
    on_hand, pipeline = grid[0], grid[1:].T
    acts = np.arange(n_act)
    pipe_idx = np.arange(n_pipe)
    if lead == 0:
        stock = np.minimum(on_hand[:, None] + acts[None, :], cap)
        next_pipe = np.zeros((on_hand.size, n_act), dtype=np.int64)
    else:
        stock = np.broadcast_to(
            np.minimum(on_hand + pipeline[:, 0], cap)[:, None], (on_hand.size, n_act)
        )
        rest = np.tile(pipe_idx, cap + 1) % (n_act ** (lead - 1))  # drop the oldest entry
        next_pipe = rest[:, None] * n_act + acts[None, :]
    order_cost = params.unit_cost * acts + params.fixed_order_cost * (acts > 0)
    p = params
    base = np.empty((7, on_hand.size, n_act))
    trans = np.empty((7, cap + 1, cap + 1))
    for d, mean in enumerate(p.daily_means):
        sales, trans[d] = demand_terms(float(mean), cap)
        y = np.arange(cap + 1)
        reward_y = (p.price + p.holding_cost + p.lost_sale_penalty) * sales - p.holding_cost * y
        base[d] = reward_y[stock] - p.lost_sale_penalty * mean - order_cost[None, :]
    for arr in (on_hand, pipeline, base, trans):
        arr.setflags(write=False)
    return InventoryModel(
        params=params,
        n_onhand=cap + 1,
        n_pipe=n_pipe,
        on_hand=on_hand,
        pipeline=pipeline,
        base=base,
        trans=trans,
        next_flat=stock * n_pipe + next_pipe,
    )
