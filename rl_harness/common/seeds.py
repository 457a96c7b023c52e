"""Training seeds in three disjoint blocks, declared once; evaluation seeds derived above them.

        0 … 4999   TUNING      what sweep trials train on (`seed=`, then seed+1 … with k seeds)
     5000 … 7999   VALIDATION  what the re-test stage ranks the top trials (and the incumbent) on
     8000 … 9999   REPORT      what published tables and learning tests train on: nothing selects
                               on them, so a figure on them is not inflated by the selection
    10000 …        evaluation  a run's evaluation episodes: its seed + EVAL_SEED_OFFSET

A run with seed s and n_envs environments seeds them s … s+n_envs−1; it lies in a block when all
of them do (`within`): the last seed a run takes in TUNING is 5000 − n_envs. Evaluation seeds are
the training seeds shifted by EVAL_SEED_OFFSET, above every block: no evaluation episode replays
a training episode.

Why these values: tuning keeps 0, the config's default `seed`, so every sweep run so far tuned
inside TUNING; validation keeps 5000, the re-test's first seed since validation shipped
(hydra.sweeper.validate.seed_offset), so a study resumed from before still re-tests where it did.
REPORT takes what is left below the evaluation offset. A sweep refuses to tune or re-test
outside its block (rl_harness.tuning.validation.check_seeds). tests/rl_harness/common/
test_seeds.py checks the blocks; tests/experiments/test_report_seeds.py that every experiment
publishing scores takes its seeds from REPORT.
"""

from __future__ import annotations

TUNING = range(0, 5000)
VALIDATION = range(5000, 8000)
REPORT = range(8000, 10_000)
EVAL_SEED_OFFSET = 10_000  # evaluation envs: the run's seed + this (build/make.py)

BLOCKS = {"tuning": TUNING, "validation": VALIDATION, "report": REPORT}


def span(block: range) -> str:
    """`5000..7999`, as messages write a block."""
    return f"{block.start}..{block.stop - 1}"


def within(block: range, first: int, n: int = 1, n_envs: int = 1) -> bool:
    """Whether n runs from `first` (first, first+1, …), each seeding n_envs envs, stay in
    `block`."""
    return block.start <= first and first + n - 1 + n_envs - 1 < block.stop


def reaches(first: int, n: int = 1, n_envs: int = 1) -> list[str]:
    """The blocks (or `evaluation`) that runs from `first` touch, lowest first."""
    last = first + n - 1 + n_envs - 1
    hit = [name for name, b in BLOCKS.items() if first < b.stop and last >= b.start]
    return hit + (["evaluation"] if last >= EVAL_SEED_OFFSET else [])


def take(block: range, n: int) -> list[int]:
    """The first n seeds of `block` (a published table on n seeds: `take(REPORT, n)`)."""
    if not 0 < n <= len(block):
        raise ValueError(f"{n} seeds asked of the block {span(block)}: give 1 to {len(block)}")
    return list(block[:n])
