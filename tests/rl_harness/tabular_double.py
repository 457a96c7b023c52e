"""A tabular agent with Q-learning's public surface (load, predict, spaces) and no torch policy.

Stands in for `rl_harness.qlearning.QLearning` where that class is not on the branch; it is
registered under a test-only name with `monkeypatch.setitem(algos.REGISTRY, ...)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from rl_harness.common import space_codec as space_json

REGISTRY_NAME = "tabular_double"
REGISTRY_PATH = "tests.rl_harness.tabular_double:GreedyTable"


class GreedyTable:
    """Greedy actions from a random Q-table over a Discrete or MultiDiscrete observation."""

    def __init__(self, observation_space: spaces.Space, n_actions: int, seed: int = 0) -> None:
        self.observation_space = observation_space
        self.action_space = spaces.Discrete(n_actions)
        nvec = (
            np.array([observation_space.n])
            if isinstance(observation_space, spaces.Discrete)
            else observation_space.nvec
        )
        self.nvec = nvec
        self.q_table = np.random.default_rng(seed).normal(size=(int(np.prod(nvec)), n_actions))

    def _rows(self, obs: np.ndarray) -> np.ndarray:
        if isinstance(self.observation_space, spaces.Discrete):
            return obs.astype(np.int64) - self.observation_space.start
        offset = obs.astype(np.int64) - self.observation_space.start
        return np.ravel_multi_index(tuple(offset.T), self.nvec)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        obs = np.asarray(observation)
        single = obs.ndim == len(self.observation_space.shape)
        rows = self._rows(obs[None] if single else obs)
        actions = self.q_table[rows].argmax(axis=1)
        return (actions[0] if single else actions), None

    def save(self, path: str | Path) -> None:
        meta = {
            "observation_space": space_json.to_json(self.observation_space),
            "n_actions": int(self.action_space.n),
        }
        with open(path, "wb") as f:
            np.savez(f, q_table=self.q_table, meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", **kwargs: Any) -> GreedyTable:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            model = cls(space_json.from_json(meta["observation_space"]), meta["n_actions"])
            model.q_table = data["q_table"]
        return model
