"""Test doubles that make training go wrong on purpose."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.callbacks import BaseCallback


class NaNRewardAfter(gym.Wrapper):
    """Returns a NaN reward from step `after` on (counted over the env's lifetime)."""

    def __init__(self, env: gym.Env, after: int = 300) -> None:
        super().__init__(env)
        self.after, self.count = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return (
            obs,
            float("nan") if self.count >= self.after else reward,
            terminated,
            truncated,
            info,
        )


class PoisonWeights(BaseCallback):
    """After the first evaluation, sets one policy weight to NaN (a diverged update)."""

    def _on_step(self) -> bool:
        with torch.no_grad():
            next(self.model.policy.parameters()).view(-1)[0] = float("nan")
        return True
