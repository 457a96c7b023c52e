"""The threads-per-seed benchmark: a bad pair or budget stops before any process starts; (slow)
its table holds the three variants, each timed, the baseline at ratio 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.benchmarks import seed_threads as bench
from rl_harness.common import processes
from rl_harness.errors import ConfigError


def test_a_pair_with_no_env_config_or_too_few_steps_stops_before_any_seed_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "threads.md"
    with pytest.raises((ConfigError, SystemExit), match="nope"):
        bench.main(["--pair", "sac/nope", "--steps", "1000", "--out", str(out)])
    with pytest.raises(SystemExit):
        bench.main(["--steps", str(bench.SHORT), "--out", str(out)])
    assert f"--steps {bench.SHORT}: give more than {bench.SHORT}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--rounds", "0", "--out", str(out)])
    assert "--rounds 0: give 1 or more" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_the_table_times_one_seed_per_thread_count_and_one_seed_per_core(tmp_path: Path) -> None:
    out = tmp_path / "threads.md"
    bench.main(["--pair", "sac/pendulum", "--steps", "800", "--rounds", "1", "--out", str(out)])
    rows = [line.split(" | ") for line in out.read_text().splitlines() if line.startswith("| ")]
    assert [r[0] for r in rows[1:]] == [
        "| 1 seed, 1 thread", f"| 1 seed, {processes.cores()} threads",
        f"| {processes.cores()} seeds at once, 1 thread each",
    ]  # fmt: skip
    assert rows[1][4] == "1.00" and all(
        float(r[3].split()[0]) > 0 and float(r[2]) > 0 for r in rows[1:]
    )
