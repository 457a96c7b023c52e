"""Helpers for tabular agents: observation -> table row, env wrapping, and a no-pickle archive
(``.npz``: arrays plus JSON metadata for schedules, and for spaces in ``common.space_codec``'s
form).

Kept apart from ``qlearning.py`` so that file reads as the algorithm alone.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

SUPPORTED_OBS = "Discrete, MultiDiscrete, MultiBinary or Box (with obs_bins)"


class ObsEncoder:
    """Maps a batch of observations to table rows in one numpy expression.

    Discrete: ``obs - start``. MultiDiscrete/MultiBinary: ravelled in C order (the same index as
    ``np.ravel_multi_index``). Box: flattened, clipped to ``[low, high]`` and cut into ``bins``
    equal-width bins per dim (clip-then-digitize), then ravelled. ``bins``/``low``/``high`` are a
    scalar or one value per flattened dim; ``low``/``high`` default to the space's bounds and are
    required where those are infinite.
    """

    def __init__(
        self,
        space: spaces.Space,
        bins: int | list[int] | None = None,
        low: float | list[float] | None = None,
        high: float | list[float] | None = None,
    ) -> None:
        self.kind = "multi"
        self.start: Any
        if isinstance(space, spaces.Discrete):
            self.kind, self.start, self.n_states = "discrete", int(space.start), int(space.n)
            return
        if isinstance(space, spaces.MultiDiscrete):
            nvec, self.start = space.nvec.reshape(-1), space.start.reshape(-1)
        elif isinstance(space, spaces.MultiBinary):
            nvec = np.full(int(np.prod(space.shape)), 2)
            self.start = np.zeros_like(nvec)
        elif isinstance(space, spaces.Box):
            dims = int(np.prod(space.shape))
            if bins is None:
                raise ValueError(f"Box observation space {space} needs obs_bins (int or list).")
            nvec = _per_dim(bins, dims, "obs_bins").astype(np.int64)
            lo = _per_dim(low, dims, "obs_low", space.low.reshape(-1))
            hi = _per_dim(high, dims, "obs_high", space.high.reshape(-1))
            for d in range(dims):
                if not (np.isfinite(lo[d]) and np.isfinite(hi[d]) and lo[d] < hi[d]):
                    raise ValueError(
                        f"Box dim {d} has bounds [{lo[d]}, {hi[d]}]; "
                        "set finite obs_low/obs_high for it (low < high)."
                    )
            if np.any(nvec < 1):
                raise ValueError(f"obs_bins must be >= 1 per dim, got {nvec.tolist()}.")
            self.kind, self.low, self.scale, self.top = "box", lo, nvec / (hi - lo), nvec - 1
        else:
            raise ValueError(f"Observation space {space} unsupported; use {SUPPORTED_OBS}.")
        self.strides = np.ones(len(nvec), dtype=np.int64)
        self.strides[:-1] = np.cumprod(nvec[::-1])[::-1][1:]
        self.n_states = math.prod(int(n) for n in nvec)  # Python ints: no overflow (np.prod wraps)

    def __call__(self, obs: Any) -> np.ndarray:
        """Batch ``(n, *obs_shape)`` -> rows ``(n,)``."""
        if self.kind == "discrete":
            rows = np.asarray(obs).reshape(-1).astype(np.intp, copy=False)
            return rows - self.start if self.start else rows
        flat = np.asarray(obs).reshape(len(obs), -1)
        if self.kind == "multi":
            return (flat - self.start) @ self.strides
        cells = np.floor((flat - self.low) * self.scale)
        return np.clip(cells, 0, self.top).astype(np.int64) @ self.strides


def _per_dim(value: Any, dims: int, name: str, default: np.ndarray | None = None) -> np.ndarray:
    """Broadcast a scalar/list setting to one float per Box dim."""
    if value is None:
        if default is None:
            raise ValueError(f"{name} is required for Box observations.")
        return np.asarray(default, dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(dims, float(arr))
    if arr.shape != (dims,):
        raise ValueError(f"{name} has {arr.size} entries; the Box has {dims} dims.")
    return arr


def to_json(obj: Any) -> Any:
    """``json.dumps(default=...)`` hook for numpy values and other sequences."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Sequence):  # e.g. an OmegaConf ListConfig from a Hydra config
        return list(obj)
    raise TypeError(f"Cannot save {type(obj).__name__} as JSON.")


def schedule_to_json(lr: float | Schedule) -> float | dict[str, float]:
    """Floats, SB3 Constant/Linear schedules exactly; other callables as their final value."""
    while isinstance(lr, FloatSchedule):
        lr = lr.value_schedule
    if isinstance(lr, ConstantSchedule):
        return float(lr.val)
    if isinstance(lr, LinearSchedule):
        return {"start": lr.start, "end": lr.end, "end_fraction": lr.end_fraction}
    if callable(lr):
        warnings.warn(f"Saving schedule {lr!r} as its final value lr(0).", stacklevel=3)
        return float(lr(0.0))
    return float(lr)


def schedule_from_json(lr: float | dict[str, float]) -> float | Schedule:
    return LinearSchedule(**lr) if isinstance(lr, dict) else float(lr)


def as_vec_env(env: VecEnv | gym.Env) -> VecEnv:
    """SB3's wrapping of a plain env: Monitor, then DummyVecEnv."""
    if isinstance(env, VecEnv):
        return env
    if not isinstance(env, Monitor):
        env = Monitor(env)
    return DummyVecEnv([lambda: env])


def write_archive(
    path: str | os.PathLike | io.BufferedIOBase, table: np.ndarray, meta: dict[str, Any]
) -> None:
    """``np.savez`` of the table and JSON metadata. A zip either way; like SB3, a path without a
    suffix gets ``.zip`` (np.savez would otherwise append ``.npz``)."""
    arrays: dict[str, Any] = {
        "q_table": table,
        "metadata": np.array(json.dumps(meta, default=to_json)),
    }
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        path = path if os.path.splitext(path)[1] else path + ".zip"
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:
        np.savez(path, **arrays)


def read_archive(path: str | os.PathLike | io.BufferedIOBase) -> tuple[np.ndarray, dict[str, Any]]:
    """Inverse of ``write_archive`` (``allow_pickle=False``); tries ``path + ".zip"`` like SB3."""
    if isinstance(path, (str, os.PathLike)) and not os.path.exists(path):
        path = os.fspath(path) + ".zip"
    with np.load(path, allow_pickle=False) as data:
        return data["q_table"], json.loads(str(data["metadata"]))
