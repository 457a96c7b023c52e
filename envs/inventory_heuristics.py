"""The classical order-up-to (base-stock) and (s, S) policies, each tuned by exact policy
evaluation of every candidate at once (all candidates share one backward recursion)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rl_harness.envs.inventory_model import MAX_STATE_STEPS, InventoryModel, expect_next, model_for

# candidates x states x horizon above which the search refuses (about 1 s per 1e8).
MAX_SEARCH_WORK = 2_000_000_000
_CHUNK_ELEMENTS = 500_000  # candidates x states per chunk, bounds memory


@dataclass(frozen=True)
class HeuristicResult:
    """Best (s, S) found: order up to S when inventory position <= s (base-stock: s = S - 1)."""

    kind: str
    s: int
    S: int
    value: float
    max_order: int

    def order(self, position: np.ndarray | int) -> np.ndarray:
        """Units to order given inventory position (on-hand + pipeline)."""
        return heuristic_order(np.asarray(position), self.s, self.S, self.max_order)

    def act(self, obs: np.ndarray) -> int:
        """Order for one observation (on-hand, pipeline..., weekday); stationary."""
        return int(self.order(int(np.asarray(obs)[:-1].sum())))


def heuristic_order(position: np.ndarray, s: Any, big_s: Any, max_order: int) -> np.ndarray:
    """min(max_order, S - position) where position <= s, else 0 (broadcasts over candidates)."""
    return np.where(position <= s, np.clip(big_s - position, 0, max_order), 0)


def best_base_stock(max_state_steps: int = MAX_STATE_STEPS, **env_kwargs: Any) -> HeuristicResult:
    """Best order-up-to level S over 0..capacity + (lead_time + 1) * max_order."""
    m = model_for(env_kwargs, max_state_steps)
    big_s = np.arange(_max_level(m) + 1)
    return _best("base-stock", m, big_s - 1, big_s)


def best_s_S(max_state_steps: int = MAX_STATE_STEPS, **env_kwargs: Any) -> HeuristicResult:  # noqa: N802
    """Best (s, S) over all 0 <= s < S <= capacity + (lead_time + 1) * max_order (and never
    ordering); includes every base-stock policy (s = S - 1), so it is never worse."""
    m = model_for(env_kwargs, max_state_steps)
    big_s, s = np.triu_indices(_max_level(m) + 1, k=1)[::-1]
    return _best("(s,S)", m, np.append(-1, s), np.append(0, big_s))


def evaluate_stationary(m: InventoryModel, tables: np.ndarray) -> np.ndarray:
    """Exact expected returns from the start state of K stationary policies (K, S) at once."""
    k, n = tables.shape
    horizon = m.params.horizon
    work = k * n * horizon
    if work > MAX_SEARCH_WORK:
        raise ValueError(
            f"heuristic search too large: {k:,} policies x {n:,} states x horizon {horizon} = "
            f"{work:,} exceeds the limit {MAX_SEARCH_WORK:,}; reduce lead_time or max_order"
        )
    step = max(1, _CHUNK_ELEMENTS // n)
    return np.concatenate([_evaluate_chunk(m, tables[i : i + step]) for i in range(0, k, step)])


def _evaluate_chunk(m: InventoryModel, tables: np.ndarray) -> np.ndarray:
    k = len(tables)
    rows = np.arange(m.n_states)[None, :]
    # Gather once: each candidate's rewards (per weekday) and successor index in layout
    # (on-hand, candidate, pipeline) so that one matmul serves all candidates.
    rewards = m.base[:, rows, tables]  # (7, K, S)
    nxt = m.next_flat[rows, tables]  # (K, S): y * n_pipe + p'
    y, p_next = np.divmod(nxt, m.n_pipe)
    flat = (y * k + np.arange(k)[:, None]) * m.n_pipe + p_next
    to_layout = _layout(m, k)
    rewards = np.stack([to_layout(r) for r in rewards])
    flat = to_layout(flat)
    v = np.zeros((m.n_onhand, k * m.n_pipe))
    g = np.empty_like(v)
    for t in reversed(range(m.params.horizon)):
        d = t % 7
        v = rewards[d] + expect_next(m.trans[d], v, out=g).ravel()[flat]
    start = m.params.initial_inventory
    return v[start].reshape(k, m.n_pipe)[:, 0]


def _layout(m: InventoryModel, k: int):
    """(K, S) -> (on-hand, K * n_pipe), the layout the recursion keeps its values in."""

    def convert(a: np.ndarray) -> np.ndarray:
        return a.reshape(k, m.n_onhand, m.n_pipe).transpose(1, 0, 2).reshape(m.n_onhand, -1)

    return convert


def _best(kind: str, m: InventoryModel, s: np.ndarray, big_s: np.ndarray) -> HeuristicResult:
    max_order = m.params.max_order
    pos = m.position[None, :]
    tables = heuristic_order(pos, s[:, None], big_s[:, None], max_order)
    values = evaluate_stationary(m, tables.astype(np.int64))
    i = int(np.argmax(values))
    return HeuristicResult(kind, int(s[i]), int(big_s[i]), float(values[i]), max_order)


def _max_level(m: InventoryModel) -> int:
    return m.params.capacity + (m.params.lead_time + 1) * m.params.max_order
