"""The seed blocks (rl_harness.common.seeds): disjoint, below the evaluation seeds, and the
harness's evaluation offset is theirs."""

from __future__ import annotations

import itertools

import pytest

from rl_harness.common import seeds


def test_the_blocks_never_overlap_and_stay_below_the_evaluation_seeds() -> None:
    blocks = list(seeds.BLOCKS.values())
    assert len(blocks) == 3 and all(len(b) > 0 and b.step == 1 for b in blocks)
    for a, b in itertools.combinations(blocks, 2):
        assert not set(a) & set(b), (a, b)
    assert min(b.start for b in blocks) >= 0
    assert max(b.stop for b in blocks) <= seeds.EVAL_SEED_OFFSET


def test_the_harness_evaluates_from_the_declared_offset() -> None:
    from rl_harness.build import make

    assert make.EVAL_SEED_OFFSET is seeds.EVAL_SEED_OFFSET


def test_today_s_defaults_keep_their_blocks() -> None:
    """Tuning from the config's seed 0 and re-tests from 5000, as before the blocks."""
    assert seeds.TUNING.start == 0 and seeds.VALIDATION.start == 5000


def test_runs_lie_in_a_block_only_with_all_their_env_seeds() -> None:
    assert seeds.within(seeds.TUNING, 0, 5, n_envs=16)
    assert seeds.within(seeds.TUNING, 4999)
    assert not seeds.within(seeds.TUNING, 4999, n_envs=2)
    assert not seeds.within(seeds.TUNING, 4998, 2, n_envs=2)
    assert not seeds.within(seeds.REPORT, -1)
    assert seeds.reaches(4990, 5, 16) == ["tuning", "validation"]
    assert seeds.reaches(9999, 1, 2) == ["report", "evaluation"]
    assert seeds.reaches(-5) == []


def test_take_gives_a_blocks_first_seeds() -> None:
    assert seeds.take(seeds.REPORT, 3) == [8000, 8001, 8002]
    with pytest.raises(ValueError, match="give 1 to 2000"):
        seeds.take(seeds.REPORT, 0)
    assert seeds.span(seeds.VALIDATION) == "5000..7999"
