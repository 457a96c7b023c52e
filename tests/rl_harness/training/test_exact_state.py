"""The training state's compact encodings give back the very generators they were taken from
(the end-to-end exactness of resume is tests/experiments/checks/test_resume_exactness.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from stable_baselines3.common.utils import set_random_seed

from rl_harness.training import exact_state


def draws() -> tuple[list[float], float, float]:
    return torch.rand(3).tolist(), float(np.random.rand()), random.random()


@pytest.fixture(autouse=True)
def _keep_global_generators():
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    torch.set_rng_state(saved[2])


def test_generators_untouched_since_the_seed_are_saved_as_the_seed() -> None:
    set_random_seed(11)
    saved = exact_state._global_rngs(11)
    assert saved == {name: {"seeded": 11} for name in ("python", "numpy", "torch")}
    expected = draws()
    draws()
    exact_state._restore_global_rngs(saved)
    assert draws() == expected


def test_generators_drawn_from_are_saved_whole_and_restored() -> None:
    set_random_seed(11)
    torch.rand(1)  # only torch drawn from
    saved = exact_state._global_rngs(11)
    assert saved["python"] == saved["numpy"] == {"seeded": 11}
    assert isinstance(saved["torch"], dict) and len(saved["torch"]["words"]) == 624 * 4
    expected = draws()
    draws()
    exact_state._restore_global_rngs(saved)
    assert draws() == expected
    set_random_seed(12)  # another run's seed: nothing is taken for seeded
    assert all(
        not isinstance(v, dict) or "seeded" not in v for v in exact_state._global_rngs(11).values()
    )


def test_states_in_the_first_format_still_restore() -> None:
    """Checkpoints written before the compact encodings hold whole states and torch's tensor."""
    torch.manual_seed(5)
    old = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    expected = draws()
    draws()
    exact_state._restore_global_rngs(old)
    assert draws() == expected
