"""VecNormalize's observation transform as plain arrays, for serving and export without SB3's
wrapper: clip((x - mean) / sqrt(var + eps), -clip, clip)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rl_harness.errors import ConfigError


@dataclass
class ObsNormalizer:
    """VecNormalize's observation transform as plain arrays: clip((x - mean) / sqrt(var + eps))."""

    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip: float

    @classmethod
    def from_vecnormalize(cls, path: str | Path) -> ObsNormalizer | None:
        """Read a VecNormalize file (a pickle: trusted sources only); None without norm_obs."""
        with open(path, "rb") as f:
            stats = pickle.load(f)  # noqa: S301 - our own training output
        if not stats.norm_obs:
            return None
        if isinstance(stats.obs_rms, dict):
            raise ConfigError("normalized Dict observations are not supported for serving")
        return cls(
            np.asarray(stats.obs_rms.mean, dtype=np.float64),
            np.asarray(stats.obs_rms.var, dtype=np.float64),
            float(stats.epsilon),
            float(stats.clip_obs),
        )

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, var=self.var, epsilon=self.epsilon, clip=self.clip)

    @classmethod
    def load(cls, path: str | Path) -> ObsNormalizer:
        with np.load(path, allow_pickle=False) as d:
            return cls(d["mean"], d["var"], float(d["epsilon"]), float(d["clip"]))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        scaled = (obs - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)
