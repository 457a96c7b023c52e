"""The training state's arrays, each stored once and integers in the narrowest dtype that holds
them, and its long lists of empty dicts (or of None) as their length; restored as they were.

Why: a vec env of 1024 copies keeps its observations (1024 x obs_dim int64) in its own state,
and the model keeps the same batch as `_last_obs`: pickled and deflated, every copy of every
8-byte integer costs checkpoint time (measured: experiments/results/checkpoint_cost.md).
`Packer.attrs` swaps the arrays among an object's attribute values (and in dicts of them, as
observations of Dict spaces) for `Shared`, naming the i-th of `Packer.packed`; `Unpacker` gives
every array that was an object of its own an object of its own again (envs write into theirs in
place), and one array that two attributes shared one array again.

Every SB3 vec env layer keeps `reset_infos` and `_options`, a dict per env, empty but after a
reset with infos or options: 6 lists of 1024 dicts cost Q-learning's checkpoint 0.3 ms to
pickle, as `Empties` 0.1 ms to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_BYTES = 1024  # smaller arrays pickle as they are: a reference would save nothing
MIN_ITEMS = 64  # shorter lists pickle as they are
_NARROW = {  # narrowest first
    "i": tuple(np.dtype(t) for t in ("u1", "i1", "u2", "i2", "u4", "i4")),
    "u": tuple(np.dtype(t) for t in ("u1", "u2", "u4")),
    "f": (np.dtype("f2"), np.dtype("f4")),
}
_KINDS = "biuf"  # numbers and flags; object and structured arrays pickle as they are


@dataclass(frozen=True)
class Shared:
    """Where an array was: `index` of its values in the state's `arrays`; `owner`: which of the
    arrays with those values it was (they were distinct objects: they are restored as such)."""

    index: int
    owner: int = 0


@dataclass(frozen=True)
class Empties:
    """A list of `n` empty dicts (`of` "dict") or of `n` None (`of` "none")."""

    of: str
    n: int

    def restored(self) -> list:
        """New empty dicts, one per item (as SB3 makes them), or Nones."""
        return [{} for _ in range(self.n)] if self.of == "dict" else [None] * self.n


Packed = tuple[np.dtype, np.ndarray]  # the original dtype, and the values (maybe narrower)


class Packer:
    """Collects the arrays of one training state, each distinct one once."""

    def __init__(self) -> None:
        self.packed: list[Packed] = []
        self._seen: dict[tuple[np.dtype, tuple[int, ...], bytes], int] = {}
        self._owners: dict[int, int] = {}  # by index: how many distinct arrays hold its values
        self._objects: dict[int, tuple[np.ndarray, Shared]] = {}  # by id(array)

    def attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """`attrs` with its arrays, and those of dicts among its values, as `Shared`."""
        return {name: self._value(value) for name, value in attrs.items()}

    def _value(self, value: Any) -> Any:
        """By type first: most attributes are numbers, flags, spaces (a layer has ~15)."""
        kind = type(value)
        if kind is np.ndarray:
            return self._array(value)
        if kind is list:
            return _empties(value) or value
        if isinstance(value, dict) and any(_packable(v) for v in value.values()):
            return {k: self._array(v) for k, v in value.items()}
        return value  # other dicts as they are: one object for all that share it

    def _array(self, value: Any) -> Any:
        if not _packable(value):
            return value
        if id(value) in self._objects:  # the very same array again
            return self._objects[id(value)][1]
        key = (value.dtype, value.shape, value.tobytes())
        if key not in self._seen:
            self._seen[key] = len(self.packed)
            self.packed.append((value.dtype, narrowed(value)))
        index = self._seen[key]
        shared = Shared(index, self._owners.get(index, 0))
        self._owners[index] = shared.owner + 1
        self._objects[id(value)] = (value, shared)  # the array kept: its id stays its own
        return shared


def _empties(value: list) -> Empties | None:
    """`value` as `Empties` where it is a long list of nothing but None or of nothing but empty
    dicts (not of their subclasses); the checks in C loops (15 us for 1024 dicts)."""
    if len(value) < MIN_ITEMS:
        return None
    n, first = len(value), value[0]
    if first is None and value.count(None) == n:  # `is` first: no item's __eq__ is called
        return Empties("none", n)
    if type(first) is dict and list(map(type, value)).count(dict) == n and not any(value):
        return Empties("dict", n)  # (types first: `any` would ask arrays for a truth value)
    return None


def _packable(value: Any) -> bool:
    """A plain, C-ordered numeric array big enough to be worth it (others pickle exactly as
    they are; a Fortran-ordered one would come back C-ordered)."""
    return (
        type(value) is np.ndarray
        and value.dtype.kind in _KINDS
        and value.nbytes >= MIN_BYTES
        and value.flags.c_contiguous
    )


def narrowed(array: np.ndarray) -> np.ndarray:
    """A copy of `array` in the narrowest dtype of its kind that gives back its very bits:
    integers by their range (int64 observations of 0..16: uint8), floats where each value
    survives the round trip bit for bit (episode returns in quarters: float16); as it is where
    none does. (Random floats deflate slowly: 4 KB of float32 costs zlib 75 us.)"""
    if array.size == 0 or array.dtype.kind not in "iuf":
        return array.copy()
    for dtype in _NARROW[array.dtype.kind]:
        if dtype.itemsize >= array.dtype.itemsize:
            break
        if (narrow := _exactly(array, dtype)) is not None:
            return narrow
    return array.copy()


def _exactly(array: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """`array` as `dtype` where that loses nothing, else None."""
    if dtype.kind == "f":
        with np.errstate(all="ignore"):  # too big or too small: inf or 0, told apart below
            narrow = array.astype(dtype)
        return narrow if narrow.astype(array.dtype).tobytes() == array.tobytes() else None
    info = np.iinfo(dtype)
    low, high = int(array.min()), int(array.max())
    return array.astype(dtype) if info.min <= low and high <= info.max else None


class Unpacker:
    """Gives back what a `Packer` packed: each `Shared` one array, in the original dtype, for
    all references to it (one checkpoint's attributes of the model and of every env)."""

    def __init__(self, packed: list[Packed]) -> None:
        self.packed = packed
        self._arrays: dict[Shared, np.ndarray] = {}

    def attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """`attrs` with what `Packer.attrs` encoded decoded."""
        return {name: self._value(value) for name, value in attrs.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, Shared):
            return self._array(value)
        if isinstance(value, Empties):
            return value.restored()
        if isinstance(value, dict) and any(isinstance(v, Shared) for v in value.values()):
            return {k: self._value(v) for k, v in value.items()}
        return value

    def _array(self, shared: Shared) -> np.ndarray:
        if shared not in self._arrays:
            dtype, values = self.packed[shared.index]
            self._arrays[shared] = values.astype(dtype)  # a copy, also in the same dtype
        return self._arrays[shared]
