"""Gymnasium spaces as plain JSON, and the check that a batch of observations fits one.

The one JSON form of a space: in a served policy's `policy.json` and in Q-learning archives.
A served policy keeps its observation and action spaces as JSON beside the model (no pickle),
so that every request can be checked against them before it reaches the network: shape, numeric
type, NaN / inf, bounds, and integer values for discrete spaces. Each failure is an
`ObservationError` whose message names the row and dimension at fault.

Supported: Box, Discrete, MultiDiscrete, MultiBinary (Dict and Tuple observations are not).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from rl_harness.errors import ObservationError

SUPPORTED = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def _bounds(values: np.ndarray) -> list[float | None]:
    """Floats, with ±inf as null (strict JSON has no infinity)."""
    return [float(v) if np.isfinite(v) else None for v in values.reshape(-1)]


def _unbounds(values: list[float | None], fill: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.array([fill if v is None else v for v in values], dtype=np.float64).reshape(shape)


def to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON-able description of a supported space."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _bounds(space.low),
            "high": _bounds(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    raise ObservationError(
        f"{type(space).__name__} spaces are not supported here; "
        f"supported: {', '.join(s.__name__ for s in SUPPORTED)}"
    )


def from_json(spec: dict[str, Any]) -> spaces.Space:
    """The space `to_json` described; also the older form in Q-learning archives (Box bounds as
    nested lists that may hold ±inf, no "shape"; MultiDiscrete without "dtype")."""
    kind = spec["type"]
    if kind == "Box":
        dtype = np.dtype(spec["dtype"])
        if "shape" in spec:
            shape = tuple(spec["shape"])
            low = _unbounds(spec["low"], -np.inf, shape)
            high = _unbounds(spec["high"], np.inf, shape)
        else:  # the older form: the bounds carry the shape
            low, high = (np.asarray(spec[k], dtype=np.float64) for k in ("low", "high"))
        if np.issubdtype(dtype, np.floating):  # bounds already in the space's precision
            low, high = low.astype(dtype), high.astype(dtype)
        return spaces.Box(low, high, low.shape, dtype)
    if kind == "Discrete":
        return spaces.Discrete(spec["n"], start=spec.get("start", 0))
    if kind == "MultiDiscrete":
        nvec = np.array(spec["nvec"])
        return spaces.MultiDiscrete(
            nvec,
            np.dtype(spec.get("dtype", "int64")),
            start=np.array(spec.get("start", np.zeros_like(nvec))),
        )
    if kind == "MultiBinary":
        return spaces.MultiBinary(spec["n"])
    raise ObservationError(f"unknown space type {kind!r}")


def limits(space: spaces.Space) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-element (low, high, must_be_integer) of one observation, as float64 arrays."""
    if isinstance(space, spaces.Box):
        info = (
            np.finfo(space.dtype)
            if np.issubdtype(space.dtype, np.floating)
            else np.iinfo(space.dtype)
        )
        # infinite bounds still end at what the space's dtype can hold
        return (
            np.maximum(space.low.astype(np.float64), float(info.min)),
            np.minimum(space.high.astype(np.float64), float(info.max)),
            np.issubdtype(space.dtype, np.integer),
        )
    if isinstance(space, spaces.Discrete):
        start = float(space.start)
        return np.array(start), np.array(start + space.n - 1), True
    if isinstance(space, spaces.MultiDiscrete):
        return (
            space.start.astype(np.float64),
            (space.start + space.nvec - 1).astype(np.float64),
            True,
        )
    if isinstance(space, spaces.MultiBinary):
        return np.zeros(space.shape), np.ones(space.shape), True
    raise ObservationError(f"{type(space).__name__} observation spaces are not supported")


def _where(index: tuple[int, ...], shape: tuple[int, ...]) -> str:
    row = f"row {index[0]}"
    if not shape:
        return row
    dim = index[1] if len(shape) == 1 else tuple(int(i) for i in index[1:])
    return f"{row}, dim {dim}"


def _first(mask: np.ndarray, shape: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    hits = np.argwhere(mask)
    rows = len(np.unique(hits[:, 0]))
    more = f" ({rows - 1} more rows have this problem)" if rows > 1 else ""
    return tuple(int(i) for i in hits[0]), more


def check_batch(obs: Any, space: spaces.Space, max_batch: int) -> np.ndarray:
    """A batch (n, *space.shape) of valid observations in the space's dtype, or an error.

    Checks in order: numeric, shape, non-empty, size ≤ max_batch, finite, integral (discrete
    spaces), within bounds.
    """
    shape = tuple(space.shape or ())
    values = _numeric_batch(obs, shape, max_batch)
    finite = np.isfinite(values)
    if not finite.all():
        index, more = _first(~finite, shape)
        what = "NaN" if np.isnan(values[index]) else "an infinite value"
        raise ObservationError(f"{what} at {_where(index, shape)}{more}")
    low, high, integral = limits(space)
    if integral:
        fractional = values != np.round(values)
        if fractional.any():
            index, more = _first(fractional, shape)
            raise ObservationError(
                f"value {float(values[index])!r} at {_where(index, shape)} is not an integer, "
                f"which {type(space).__name__} observations are{more}"
            )
    outside = (values < low) | (values > high)
    if outside.any():
        index, more = _first(outside, shape)
        lo, hi = np.broadcast_to(low, shape)[index[1:]], np.broadcast_to(high, shape)[index[1:]]
        raise ObservationError(
            f"value {float(values[index])!r} at {_where(index, shape)} is "
            f"outside the observation space's range [{lo:g}, {hi:g}]{more}"
        )
    return values.astype(space.dtype)


def _numeric_batch(obs: Any, shape: tuple[int, ...], max_batch: int) -> np.ndarray:
    """`obs` as a float64 array (n, *shape) with 1 ≤ n ≤ max_batch, or an error."""
    try:
        arr = np.asarray(obs)
    except ValueError as e:  # ragged nested lists
        raise ObservationError(f"observations are not a rectangular array: {e}") from None
    if (
        arr.dtype == np.bool_
        or not np.issubdtype(arr.dtype, np.number)
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise ObservationError(f"observations must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != len(shape) + 1 or arr.shape[1:] != shape:
        expected = f"(n, {', '.join(map(str, shape))})".replace(", )", ")")
        raise ObservationError(
            f"expected a batch of observations of shape {expected}, got shape {arr.shape}"
        )
    n = arr.shape[0]
    if n == 0:
        raise ObservationError("empty batch: send at least one observation")
    if n > max_batch:
        raise ObservationError(
            f"batch of {n} observations is larger than max_batch={max_batch}; "
            "split it into smaller requests"
        )
    return arr.astype(np.float64, copy=False)
