"""A tiny env that declares no render modes, registered on import as `NoRender-v0`: use it as
`env.id=tests.rl_harness.no_render:NoRender-v0` (Gymnasium imports the module first)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "tests.rl_harness.no_render:NoRender-v0"


class NoRender(gym.Env):
    """Five steps; reward 1 for action 1. No `render_modes`: it draws nothing."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple:
        self.t += 1
        return self.observation_space.sample(), float(action), self.t >= 5, False, {}


if "NoRender-v0" not in gym.registry:
    gym.register("NoRender-v0", entry_point=NoRender)
