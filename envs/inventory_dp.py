"""Exact finite-horizon DP for the inventory task: the optimum that RL agents are measured
against (eval/optimality = agent return / optimum), plus the two classical heuristics.

State (on-hand x, pipeline p oldest first) at day t; with y = min(x + arrival, capacity) the
stock after arrival and D ~ Poisson(mean of weekday t mod 7),
    V_t(x, p) = max_a  -c(a) + E[r(y, D)] + E[V_{t+1}(max(y - D, 0), p')],   V_horizon = 0.
Both expectations are exact: E[sales] = sum_{k<y} P(D > k), E[lost] = mean - E[sales], and
the next on-hand is y - k with P(D = k) for k < y and 0 with the whole tail P(D >= y).
Run `python -m rl_harness.envs.inventory_dp --help` for the comparison table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from rl_harness.envs.inventory_heuristics import HeuristicResult, best_base_stock, best_s_S
from rl_harness.envs.inventory_model import MAX_STATE_STEPS, InventoryModel, expect_next, model_for
from rl_harness.envs.inventory_params import InventoryParams

__all__ = [
    "DPPolicy",
    "DPResult",
    "HeuristicResult",
    "MAX_STATE_STEPS",
    "best_base_stock",
    "best_s_S",
    "evaluate_policy_exact",
    "optimal_value",
]

PolicyFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class DPResult:
    """Expected episode return from the start state and the policy that achieves it.

    `policy[t, x, p1, ..., pL]` is the order at day t; `values[x, p1, ..., pL]` is the
    expected return from day 0 in that state (`value` is its start-state entry).
    """

    value: float
    policy: np.ndarray
    values: np.ndarray
    params: InventoryParams

    def action(self, obs: np.ndarray, t: int) -> int:
        """Order for a scalar-env observation at day t (t is not in the observation)."""
        return int(self.policy[(t, *np.asarray(obs)[:-1])])


def optimal_value(max_state_steps: int = MAX_STATE_STEPS, **env_kwargs: Any) -> DPResult:
    """Exact optimum by backward induction over (t, on-hand, pipeline)."""
    m = model_for(env_kwargs, max_state_steps)
    horizon = m.params.horizon
    policy = np.empty((horizon, m.n_states), dtype=m.action_dtype)
    v = np.zeros((m.n_onhand, m.n_pipe))
    rows = np.arange(m.n_states)
    for t in reversed(range(horizon)):
        d = t % 7
        q = m.base[d] + expect_next(m.trans[d], v).ravel()[m.next_flat]
        a = q.argmax(axis=1)
        policy[t] = a
        v = q[rows, a].reshape(m.n_onhand, m.n_pipe)
    return _result(m, v, policy)


def optimal_return(**env_kwargs: Any) -> float:
    """The optimum alone: what the harness logs as `optimum` and divides eval returns by."""
    return optimal_value(**env_kwargs).value


def evaluate_policy_exact(
    policy: np.ndarray | PolicyFn, max_state_steps: int = MAX_STATE_STEPS, **env_kwargs: Any
) -> DPResult:
    """Exact expected return of a fixed policy (same recursion without the max).

    `policy` is a table `[t, x, p1..pL]` or a stationary table `[x, p1..pL]`, or a function
    `f(on_hand (S,), pipeline (S, L), t) -> actions (S,)` called once per day on all states.
    """
    m = model_for(env_kwargs, max_state_steps)
    horizon = m.params.horizon
    table = np.empty((horizon, m.n_states), dtype=m.action_dtype)
    for t in range(horizon):
        if callable(policy):
            acts = np.asarray(policy(m.on_hand, m.pipeline, t))
        else:
            acts = _table_at(np.asarray(policy), m, t)
        acts = acts.reshape(-1)
        if acts.shape != (m.n_states,) or acts.min() < 0 or acts.max() > m.params.max_order:
            raise ValueError(
                f"policy must give {m.n_states} actions in 0..{m.params.max_order} per day, "
                f"got shape {acts.shape} with range {acts.min()}..{acts.max()}"
            )
        table[t] = acts
    v = np.zeros((m.n_onhand, m.n_pipe))
    rows = np.arange(m.n_states)
    for t in reversed(range(horizon)):
        d, a = t % 7, table[t]
        g = expect_next(m.trans[d], v).ravel()
        v = (m.base[d][rows, a] + g[m.next_flat[rows, a]]).reshape(m.n_onhand, m.n_pipe)
    return _result(m, v, table)


def agent_return(agent: Any, **env_kwargs: Any) -> float:
    """Exact expected return of a trained agent's deterministic policy (no sampling noise).

    `agent` is anything with SB3's `predict(obs, deterministic=True)` (SB3 models, QLearning):
    it is asked once per weekday for every (on-hand, pipeline) state.
    """
    m = model_for(env_kwargs, MAX_STATE_STEPS)
    cache: dict[int, np.ndarray] = {}

    def policy(on_hand: np.ndarray, pipeline: np.ndarray, t: int) -> np.ndarray:
        day = t % 7
        if day not in cache:
            obs = np.column_stack([on_hand, pipeline, np.full(len(on_hand), day)])
            actions, _ = agent.predict(obs.astype(np.int64), deterministic=True)
            actions = np.clip(np.rint(np.asarray(actions, dtype=float)), 0, m.params.max_order)
            cache[day] = actions.reshape(-1).astype(m.action_dtype)
        return cache[day]

    return evaluate_policy_exact(policy, **env_kwargs).value


def _table_at(table: np.ndarray, m: InventoryModel, t: int) -> np.ndarray:
    stationary = (m.n_onhand,) + (m.params.max_order + 1,) * m.params.lead_time
    if table.shape == stationary:
        return table
    if table.shape == (m.params.horizon, *stationary):
        return table[t]
    raise ValueError(
        f"policy table must have shape {stationary} or (horizon, ...), got {table.shape}"
    )


def _result(m: InventoryModel, v: np.ndarray, table: np.ndarray) -> DPResult:
    shape = m.state_shape
    p = m.params
    start = v.reshape(shape)[(p.initial_inventory,) + (0,) * p.lead_time]
    return DPResult(float(start), table.reshape(p.horizon, *shape), v.reshape(shape), p)


class DPPolicy:
    """The DP's optimal policy with an SB3-like `predict`, tracking t in the recurrent state.

    `predict(obs, state, episode_start)` works with `evaluate_policy` on `InventoryVecEnv`
    (state is the per-copy day counter, reset where `episode_start` is true).
    """

    def __init__(self, result: DPResult) -> None:
        self.result = result

    def act(self, obs: np.ndarray, t: int) -> int:
        """Order for one observation at day t."""
        return self.result.action(obs, t)

    def predict(
        self,
        observation: np.ndarray,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        obs = np.asarray(observation)
        single = obs.ndim == 1
        obs = obs.reshape(-1, obs.shape[-1])
        t = np.zeros(len(obs), dtype=np.int64) if state is None else np.asarray(state).copy()
        if episode_start is not None:
            t[np.asarray(episode_start, dtype=bool)] = 0
        if t.max() >= self.result.params.horizon:
            raise ValueError("day counter past the horizon; pass episode_start at resets")
        actions = self.result.policy[(t, *obs[:, :-1].T)]
        return (actions[0] if single else actions), t + 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Exact optimum of the inventory task vs the best base-stock and (s,S)."
    )
    for f in fields(InventoryParams):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "continuous_actions":
            continue
        if f.name == "weekly_pattern":
            parser.add_argument(flag, type=float, nargs=7, default=list(f.default))
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Print optimum, best base-stock and best (s,S) with their share of the optimum."""
    kwargs = vars(_parser().parse_args(argv))
    rows = []
    start = time.perf_counter()
    try:
        opt = optimal_value(**kwargs)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    rows.append(("optimal (DP)", "-", opt.value, time.perf_counter() - start))
    skipped = []
    for name, fn in (("base-stock", best_base_stock), ("(s,S)", best_s_S)):
        start = time.perf_counter()
        try:
            h = fn(**kwargs)
        except ValueError as err:  # search too large for this lead time
            skipped.append(f"{name} skipped: {err}")
            continue
        label = f"S={h.S}" if name == "base-stock" else f"s={h.s}, S={h.S}"
        rows.append((name, label, h.value, time.perf_counter() - start))
    print(", ".join(f"{k}={v}" for k, v in kwargs.items()))
    print(f"{'policy':<14}{'parameters':<14}{'expected return':>16}{'% of optimum':>14}{'time':>9}")
    for name, label, value, secs in rows:
        share = f"{100 * value / opt.value:.2f}%" if opt.value > 0 else "n/a"
        print(f"{name:<14}{label:<14}{value:>16.2f}{share:>14}{secs:>8.2f}s")
    for line in skipped:
        print(line)


if __name__ == "__main__":
    main()
