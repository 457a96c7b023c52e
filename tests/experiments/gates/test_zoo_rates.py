"""A gate pair's seed time measured on one thread (zoo_rates), and what the gate's table makes of
it: a pair over 30 min a seed keeps the 3 seeds of its first runs; the timing stands in for the
first runs' wall times, but not for its report seeds' own."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.gates import zoo_rates
from experiments.gates import zoo_results as results_
from experiments.lib import records
from tests.experiments.gates.test_zoo_gate import _stats, write_run


def test_a_timing_covers_the_learning_starts_and_a_stretch_after_them() -> None:
    row = zoo_rates.timed("dqn/cartpole", 300)  # RL Zoo's DQN CartPole: 1,000 steps to start
    assert row["learning_starts"] == 1000 and row["stretch_steps"] == 300
    assert row["starts_wall_s"] > 0 and row["stretch_wall_s"] > 0
    per_step = row["stretch_wall_s"] / 300
    expected = (row["starts_wall_s"] + (row["budget"] - 1000) * per_step) / 60
    assert row["minutes_per_seed"] == pytest.approx(expected)


def write_timing(results: Path, minutes: dict[str, tuple[int, float]]) -> None:
    """A timing record as zoo_rates writes it, with these minutes a seed."""
    pairs = [
        {"pair": k, "budget": b, "learning_starts": 0, "starts_wall_s": 0.0,
         "stretch_steps": 1000, "stretch_wall_s": 1.0, "stretch_cpu_s": 1.0,
         "minutes_per_seed": m}
        for k, (b, m) in minutes.items()
    ]  # fmt: skip
    record = {**records.header("python -m experiments.gates.zoo_rates --rows x"), "pairs": pairs}
    records.write(record, results / "zoo_gate_rates.md")


def test_a_pair_over_30_min_keeps_the_3_seeds_of_its_first_runs(tmp_path: Path) -> None:
    first = [
        _stats("sac/lunarlander_continuous", [250.0, 260.0, 270.0], 500_000, 100.0),
        _stats("ars/lunarlander_continuous", [250.0, 260.0, 270.0], 2_000_000, 4000.0),
        _stats("tqc/lunarlander_continuous", [250.0, 260.0], 500_000, 9000.0),
    ]
    write_run(tmp_path, first, "zoo-gate-1", "python -m experiments.gates.zoo_gate")
    write_timing(
        tmp_path,
        {
            "sac/lunarlander_continuous": (500_000, 95.0),  # long: keeps 0-2
            "ars/lunarlander_continuous": (2_000_000, 9.0),  # its old wall time said 67 min
            "tqc/lunarlander_continuous": (500_000, 120.0),  # long, but 2 seeds only
        },
    )
    notes = results_.merged(tmp_path).splitlines()
    assert notes[-3].startswith("Kept on the seeds of their first runs (1 pair: a seed takes")
    assert notes[-3].endswith("): `sac/lunarlander_continuous`.")
    assert notes[-1].startswith("Not yet on report seeds (2 pairs:")
    assert notes[-1].endswith("`ars/lunarlander_continuous`, `tqc/lunarlander_continuous`.")

    rate = results_.rates(tmp_path)  # the timing, not the first runs' wall times
    assert rate[("ars", "lunarlander_continuous")] == pytest.approx(2_000_000 / (9.0 * 60))
    later = [_stats("sac/lunarlander_continuous", [240.0], 500_000, 7000.0, seeds=[8000])]
    write_run(tmp_path, later, "zoo-gate-2", "python -m experiments.gates.zoo_gate")
    rate = results_.rates(tmp_path)  # report seeds' own wall time, over the timing
    assert rate[("sac", "lunarlander_continuous")] == pytest.approx(500_000 / 7000.0)
    text = results_.merged(tmp_path)
    assert "Kept on the seeds" not in text  # its report seeds make its row now
    assert text.splitlines()[-1].endswith("`sac/lunarlander_continuous` (8000).")


def test_unknown_rows_and_bad_steps_stop_before_anything_trains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args, said in [
        (["--rows", "sac/nowhere"], "unknown rows ['sac/nowhere']"),
        (["--rows", "ars/cartpole", "--steps", "0"], "--steps 0: give 1 or more"),
    ]:
        with pytest.raises(SystemExit) as e:
            zoo_rates.main(args)
        assert e.value.code == 2 and said in capsys.readouterr().err
