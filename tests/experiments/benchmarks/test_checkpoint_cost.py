"""The checkpoint-cost benchmark's record says how to rerun it and what it measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.benchmarks import checkpoint as bench


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--rounds", "20", "--baseline-tree", "/work/wt-base"],
        ["--train-rounds", "5", "--rounds", "7"],
    ],
)
def test_the_records_command_reruns_the_same_benchmark(argv: list[str]) -> None:
    args = bench.parser().parse_args(argv)
    command = bench.command_line(args)
    assert command.startswith("python -m experiments.benchmarks.checkpoint")
    again = bench.parser().parse_args(command.split()[3:])
    assert vars(again) == vars(args)


def test_the_table_shows_wall_and_cpu_time_and_size() -> None:
    row = {
        "config": "q", "without_wall_ms": 8.0, "with_wall_ms": 8.4, "wall_ratio": 1.05,
        "without_cpu_ms": 1.0, "with_cpu_ms": 2.25, "without_bytes": 1000, "with_bytes": 1040,
        "size_ratio": 1.04,
    }  # fmt: skip
    data = {"command": "c", "commit": "x", "machine": "m", "rounds": 20, "checkpoints": [row],
            "load_at_start": 0.5}  # fmt: skip
    assert "| q | 8.0 | 8.4 | 1.05 | 1.00 | 2.25 | 1,000 | 1,040 | 1.04 |" in bench.render(data)
    assert "load average 0.5" in bench.render(data)
    assert Path(bench.RECORD).name == "checkpoint_cost.json"
