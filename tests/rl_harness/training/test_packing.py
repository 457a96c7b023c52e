"""The training state's compact encodings (training/packing.py) give back the very values they
were given: same dtype, same bits, one object per owner; and leave alone what they cannot
encode exactly."""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from envs.inventory_vec import InventoryVecEnv
from rl_harness.errors import ConfigError
from rl_harness.training import checkpoints, exact_state
from rl_harness.training.packing import Empties, Packer, Shared, Unpacker, narrowed


def round_trip(attrs: dict) -> tuple[dict, dict]:
    """`attrs` packed, pickled as a checkpoint pickles them, read back and unpacked."""
    packer = Packer()
    packed = packer.attrs(attrs)
    blob = pickle.dumps((packed, packer.packed))
    back, arrays = pickle.loads(blob)
    return packed, Unpacker(arrays).attrs(back)


@pytest.mark.parametrize(
    ("values", "dtype", "stored"),
    [
        (np.arange(17).repeat(64), np.int64, np.uint8),  # observations 0..16
        (np.arange(-1, 201).repeat(8), np.int64, np.int16),  # a negative: signed
        (np.array([0, 2**40] * 128), np.int64, np.int64),  # does not fit: as it is
        (np.array([0, 2**63 + 5] * 128, dtype=np.uint64), np.uint64, np.uint64),
        (np.arange(3000) % 7, np.int16, np.uint8),
        (np.arange(3000) - 1500, np.int32, np.int16),
        (np.arange(256), ">i8", np.uint8),  # big-endian comes back big-endian
        (np.arange(-512, 512) / 4, np.float32, np.float16),  # returns in quarters
        (np.arange(1024) / 3, np.float32, np.float32),  # thirds: float16 would round them
        (np.arange(1024) / 3, np.float64, np.float64),
        (np.arange(1024) / 1024, np.float64, np.float16),
        (np.arange(1024) * 2.0**-30, np.float64, np.float32),  # below float16's range
        (np.arange(1024) * 1e5, np.float32, np.float32),  # above it: inf, not taken
        (np.array([-0.0, 0.0, np.nan, np.inf] * 256), np.float64, np.float16),
    ],
)
def test_numbers_are_stored_narrow_and_restored_bit_for_bit_in_their_own_dtype(
    values: np.ndarray, dtype: str, stored: type
) -> None:
    original = np.ascontiguousarray(values, dtype=dtype)
    with np.errstate(all="raise"):  # trying a narrower float warns of nothing
        assert narrowed(original).dtype == stored
    packed, back = round_trip({"obs": original})
    assert isinstance(packed["obs"], Shared)
    assert back["obs"].dtype == original.dtype and back["obs"].shape == original.shape
    assert back["obs"].tobytes() == original.tobytes()


def test_a_nan_whose_payload_a_narrower_float_would_lose_keeps_its_dtype() -> None:
    payload = np.array([0x7FF8000000000001] * 256, dtype=np.int64).view(np.float64)
    assert narrowed(payload).dtype == np.float64
    _, back = round_trip({"x": payload})
    assert back["x"].tobytes() == payload.tobytes()


def test_equal_arrays_are_stored_once_and_restored_as_two() -> None:
    """The model's last observations and the env's state: one copy in the checkpoint, but
    after restoring, the env writing into its array leaves the model's alone."""
    obs = np.tile(np.array([5, 0, 3]), (1024, 1))
    packer = Packer()
    model = packer.attrs({"_last_obs": obs.copy()})
    env = packer.attrs({"_state": obs.copy()})
    assert len(packer.packed) == 1 and model["_last_obs"].index == env["_state"].index
    unpacker = Unpacker(packer.packed)
    last_obs = unpacker.attrs(model)["_last_obs"]
    state = unpacker.attrs(env)["_state"]
    state[:, 0] = 9
    assert np.array_equal(last_obs, obs) and last_obs.dtype == np.int64


def test_one_array_that_two_attributes_held_is_restored_as_one() -> None:
    """Pickle kept such sharing within one pickle; packing keeps it across the model and envs."""
    obs, twin = np.arange(2048), np.arange(2048)
    packer = Packer()
    first = packer.attrs({"a": obs, "b": obs, "c": twin})
    second = packer.attrs({"d": obs})
    unpacker = Unpacker(pickle.loads(pickle.dumps(packer.packed)))
    back = {**unpacker.attrs(first), **unpacker.attrs(second)}
    assert back["a"] is back["b"] is back["d"] and back["c"] is not back["a"]
    assert np.array_equal(back["c"], back["a"]) and len(packer.packed) == 1


def test_floats_flags_and_dicts_of_arrays_round_trip_exactly() -> None:
    rng = np.random.default_rng(0)
    attrs = {
        "returns": rng.normal(size=512).astype(np.float32),
        "nan": np.full(512, np.nan),
        "done": rng.random(2048) < 0.5,
        "obs": {"image": rng.integers(0, 255, (8, 16, 16)), "pos": np.zeros(2)},
    }
    packed, back = round_trip(attrs)
    assert isinstance(packed["obs"]["image"], Shared) and not isinstance(
        packed["obs"]["pos"], Shared
    )  # a small array pickles as it is
    for key in ("returns", "nan", "done"):
        assert back[key].dtype == attrs[key].dtype
        assert back[key].tobytes() == attrs[key].tobytes()
    assert back["obs"]["image"].dtype == np.int64
    assert np.array_equal(back["obs"]["image"], attrs["obs"]["image"])


def test_what_cannot_be_packed_exactly_is_left_as_it_is() -> None:
    fortran = np.asfortranarray(np.arange(2048).reshape(32, 64))
    objects = np.array([{}] * 256, dtype=object)
    small = np.arange(4)
    dicts = {"a": 1}
    packed = Packer().attrs({"f": fortran, "o": objects, "s": small, "d": dicts, "x": "text"})
    assert packed["f"] is fortran and packed["o"] is objects and packed["s"] is small
    assert packed["d"] is dicts and packed["x"] == "text"  # a dict without arrays: the same one


def test_long_lists_of_empty_dicts_or_none_are_stored_as_their_length() -> None:
    infos, seeds = [{} for _ in range(1024)], [None] * 1024
    packed, back = round_trip({"reset_infos": infos, "_seeds": seeds})
    assert packed == {"reset_infos": Empties("dict", 1024), "_seeds": Empties("none", 1024)}
    assert back == {"reset_infos": infos, "_seeds": seeds}
    assert len({id(d) for d in back["reset_infos"]}) == 1024  # one dict per env, as SB3's


@pytest.mark.parametrize(
    "items",
    [
        [{} for _ in range(99)] + [{"seed": 1}],  # one not empty
        [OrderedDict() for _ in range(100)],  # empty, but not a dict: its type would be lost
        [np.zeros(3) for _ in range(100)],  # arrays have no truth value: must not be asked
        [None] * 99 + [0],
        [{} for _ in range(10)],  # short
    ],
)
def test_other_lists_are_left_as_they_are(items: list) -> None:
    assert Packer().attrs({"v": items})["v"] is items


def test_a_vec_env_restored_from_its_packed_state_steps_as_the_original() -> None:
    """Inventory copies mid-episode: their int64 state packed narrow, restored int64, and both
    envs step to the same observations and rewards."""
    env = InventoryVecEnv(num_envs=256, seed=3)
    env.reset()
    actions = np.full(256, 2)
    for _ in range(5):
        env.step(actions)
    packer = Packer()
    blob = exact_state.env_state(env, "the env", [], packer)
    assert blob is not None and len(packer.packed) == 1
    twin = InventoryVecEnv(num_envs=256, seed=99)
    twin.reset()
    exact_state.restore_env(twin, pickle.loads(pickle.dumps(blob)), Unpacker(packer.packed))
    assert twin._state.dtype == np.int64 and np.array_equal(twin._state, env._state)
    for _ in range(3):
        obs, rewards, _, _ = env.step(actions)
        twin_obs, twin_rewards, _, _ = twin.step(actions)
        assert obs.dtype == twin_obs.dtype and np.array_equal(obs, twin_obs)
        assert np.array_equal(rewards, twin_rewards)


def test_an_env_state_of_the_first_format_still_restores() -> None:
    """Checkpoints written before packing: the layers' attributes pickled as they are."""
    env = InventoryVecEnv(num_envs=128, seed=3)
    env.reset()
    env.step(np.full(128, 1))
    old = checkpoints.dumps([exact_state._layer_state(env)])
    twin = InventoryVecEnv(num_envs=128, seed=5)
    exact_state.restore_env(twin, old, Unpacker([]))
    assert np.array_equal(twin._state, env._state) and twin.t == env.t == 1


def test_read_state_reads_both_formats_and_refuses_others(tmp_path: Path) -> None:
    for fmt in (1, checkpoints.STATE_FORMAT, 99):
        point = tmp_path / f"step_{fmt}"
        point.mkdir()
        with zipfile.ZipFile(point / "model.zip", "w") as archive:
            archive.writestr(checkpoints.STATE_FILE, pickle.dumps({"format": fmt}))
        if fmt == 99:
            with pytest.raises(ConfigError, match="not a training state of format 1 or 2"):
                checkpoints.read_state(point)
        else:
            assert checkpoints.read_state(point) == {"format": fmt}
