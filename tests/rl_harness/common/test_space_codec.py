"""The one JSON form of a Gymnasium space: round trips, strict JSON, and the older form that
Q-learning archives were written in before the two codecs became one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from rl_harness.agents import tabular
from rl_harness.agents.qlearning import QLearning
from rl_harness.common import space_codec
from rl_harness.errors import ObservationError

SPACES = [
    spaces.Box(-np.inf, np.inf, (2,), np.float32),
    spaces.Box(np.array([[0.0, -1.0]]), np.array([[1.0, np.inf]]), (1, 2), np.float64),
    spaces.Box(0, 255, (3,), np.uint8),
    spaces.Discrete(5, start=-2),
    spaces.MultiDiscrete([3, 4], start=[1, 0]),
    spaces.MultiBinary(4),
]


@pytest.mark.parametrize("space", SPACES, ids=str)
def test_round_trip_through_strict_json(space: spaces.Space) -> None:
    text = json.dumps(space_codec.to_json(space), allow_nan=False)  # no Infinity, no NaN
    back = space_codec.from_json(json.loads(text))
    assert back == space and back.dtype == space.dtype


def test_unsupported_space_names_what_is() -> None:
    with pytest.raises(ObservationError, match="Tuple spaces are not supported.*Box, Discrete"):
        space_codec.to_json(spaces.Tuple([spaces.Discrete(2)]))


def _old_space_json(space: spaces.Space) -> dict[str, Any]:
    """What `agents.tabular.space_to_json` wrote into Q-learning archives (the older codec)."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec, "start": space.start}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": space.n}
    return {"type": "Box", "low": space.low, "high": space.high, "dtype": str(space.dtype)}


@pytest.mark.parametrize(
    ("obs_space", "encoder"),
    [
        (
            spaces.Box(-np.inf, np.inf, (2,), np.float32),
            {"obs_bins": 3, "obs_low": -1, "obs_high": 1},
        ),
        (spaces.MultiDiscrete([3, 2], start=[1, 0]), {}),
        (spaces.Discrete(4), {}),
        (spaces.MultiBinary(3), {}),
    ],
    ids=["box-inf", "multidiscrete", "discrete", "multibinary"],
)
def test_archive_written_by_the_older_codec_still_loads(
    tmp_path: Path, obs_space: spaces.Space, encoder: dict[str, Any]
) -> None:
    act_space = spaces.Discrete(2)
    model = QLearning(None, gamma=0.9, **encoder, _spaces=(obs_space, act_space))
    model.q_table[...] = np.random.default_rng(0).normal(size=model.q_table.shape)
    path = tmp_path / "old.zip"
    model.save(path)
    _, meta = tabular.read_archive(path)
    meta["observation_space"] = _old_space_json(obs_space)
    meta["action_space"] = _old_space_json(act_space)
    text = json.dumps(meta, default=tabular.to_json)  # as the old archive: ±inf as Infinity
    assert ("Infinity" in text) == isinstance(obs_space, spaces.Box)
    np.savez(path, q_table=model.q_table, metadata=np.array(text))

    loaded = QLearning.load(path)
    assert loaded.observation_space == obs_space and loaded.action_space == act_space
    np.testing.assert_array_equal(loaded.q_table, model.q_table)
    obs = np.stack([obs_space.sample() for _ in range(8)])
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


def test_new_archives_hold_strict_json(tmp_path: Path) -> None:
    box = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    model = QLearning(None, obs_bins=2, obs_low=-1, obs_high=1, _spaces=(box, spaces.Discrete(2)))
    model.save(tmp_path / "new.zip")
    _, meta = tabular.read_archive(tmp_path / "new.zip")
    assert meta["observation_space"] == space_codec.to_json(box)
    json.dumps(meta, allow_nan=False)  # raises on ±inf
    assert QLearning.load(tmp_path / "new.zip").observation_space == box


def test_check_batch_names_the_row_and_dim() -> None:
    box = spaces.Box(-1.0, 1.0, (3,), np.float32)
    ok = space_codec.check_batch([[0.0, 0.5, -1.0]], box, max_batch=4)
    assert ok.dtype == np.float32 and ok.shape == (1, 3)
    cases = [
        ([[0, 0]], "expected a batch of observations of shape (n, 3), got shape (1, 2)"),
        (np.zeros((5, 3)), "larger than max_batch=4"),
        ([[0, 0, 0], [0, np.nan, 0]], "NaN at row 1, dim 1"),
        ([[0, 2, 0], [0, 3, 0]], "value 2.0 at row 0, dim 1 is outside"),
        ([["a", "b", "c"]], "must be real numbers"),
    ]
    for obs, words in cases:
        with pytest.raises(ObservationError) as err:
            space_codec.check_batch(obs, box, max_batch=4)
        assert words in str(err.value)
    with pytest.raises(ObservationError, match="value 1.5 at row 0 is not an integer"):
        space_codec.check_batch([1.5], spaces.Discrete(3), max_batch=4)
