"""The task's best possible expected return, where its env config names how to compute it
(`optimum: module:function`, called with the env's kwargs). Torch-free: `evaluate` and the
reports look it up without loading a model's libraries."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from rl_harness.build.registry import import_path
from rl_harness.config.runtime import to_plain


def optimum(cfg: Any) -> float | None:
    """`cfg.env.optimum` evaluated on `cfg.env.kwargs` (cached), or None where the env names
    none or it cannot be computed (e.g. a state space too large for exact DP: a warning)."""
    path = cfg.env.get("optimum")
    if not path:
        return None
    kwargs = to_plain(cfg.env.get("kwargs")) or {}
    return _optimum(path, tuple(sorted((k, _hashable(v)) for k, v in kwargs.items())))


@lru_cache(maxsize=8)
def _optimum(path: str, kwargs_items: tuple) -> float | None:
    try:
        return float(import_path(path)(**dict(kwargs_items)))
    except ValueError as e:  # e.g. a state space too large for exact DP: train without it
        warnings.warn(f"no optimum for this env: {e}", stacklevel=3)
        return None


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v
