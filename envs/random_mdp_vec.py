"""N copies of a small random MDP stepped at once with numpy: a known-optimum task for tests
and benchmarks of tabular agents (tests/rl_harness/agents, experiments/benchmarks/qlearning.py).

Shaped like the project's vectorized inventory env: an SB3 ``VecEnv`` subclass, a fixed horizon
(truncation, ``TimeLimit.truncated=True``, with ``terminal_observation``), optional absorbing
terminal states, VecMonitor-style ``episode`` infos, and cheap infos (fresh empty dicts except for
finished envs). The MDP's tables are public so tests can compute Q* by value iteration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv


class RandomMDPVecEnv(VecEnv):
    """``successors[s, a, k]``: k-th equally likely next state; ``rewards[s, a]``: reward."""

    def __init__(
        self,
        num_envs: int = 256,
        n_states: int = 50,
        n_actions: int = 4,
        n_successors: int = 2,
        horizon: int = 100,
        terminal_states: tuple[int, ...] = (),
        mdp_seed: int = 0,
        successors: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
    ) -> None:
        rng = np.random.default_rng(mdp_seed)
        self.successors = (
            rng.integers(n_states, size=(n_states, n_actions, n_successors))
            if successors is None
            else np.asarray(successors)
        )
        n_states, n_actions, self.n_successors = self.successors.shape
        self.rewards = rng.random((n_states, n_actions)) if rewards is None else np.asarray(rewards)
        self.terminal = np.zeros(n_states, dtype=bool)
        self.terminal[list(terminal_states)] = True
        self.horizon, self.render_mode = horizon, None
        super().__init__(num_envs, spaces.Discrete(n_states), spaces.Discrete(n_actions))
        self._rng = np.random.default_rng()
        self._start_states = np.flatnonzero(~self.terminal)
        self._t = np.zeros(num_envs, dtype=np.int64)
        self._ret = np.zeros(num_envs)
        self._actions = np.zeros(num_envs, dtype=np.int64)

    def _draw_starts(self, n: int) -> np.ndarray:
        return self._start_states[self._rng.integers(len(self._start_states), size=n)]

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self._state = self._draw_starts(self.num_envs)
        self._t[:] = 0
        self._ret[:] = 0.0
        return self._state.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        s, a = self._state, self._actions
        rewards = self.rewards[s, a]
        k = (self._rng.random(len(s)) * self.n_successors).astype(np.intp)
        nxt = self.successors[s, a, k]
        self._t += 1
        self._ret += rewards
        terminated = self.terminal[nxt]
        truncated = (self._t >= self.horizon) & ~terminated
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        done_idx = dones.nonzero()[0]
        for i in done_idx:
            infos[i] = {
                "terminal_observation": nxt[i],
                "TimeLimit.truncated": bool(truncated[i]),
                "episode": {"r": float(self._ret[i]), "l": int(self._t[i])},
            }
        if len(done_idx):
            nxt[done_idx] = self._draw_starts(len(done_idx))
            self._t[done_idx] = 0
            self._ret[done_idx] = 0.0
        self._state = nxt
        return nxt.copy(), rewards, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        return [getattr(self, method_name)(*args, **kwargs)] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def q_star(self, gamma: float, tol: float = 1e-12) -> np.ndarray:
        """Infinite-horizon discounted Q* (truncation is not terminal, so this is the target)."""
        n_states = len(self.rewards)
        q = np.zeros_like(self.rewards, dtype=float)
        while True:
            v = np.where(self.terminal, 0.0, q.max(axis=1))
            new_q = self.rewards + gamma * v[self.successors].mean(axis=2)
            if np.max(np.abs(new_q - q)) < tol:
                return new_q
            q = new_q
            assert q.shape[0] == n_states
