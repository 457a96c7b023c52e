"""The sweep benchmark's tracking cost (issue 40 point 6): the same trials with MLflow on and
off, wall and CPU per trial, in its record and page; (slow) a tiny real run writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.benchmarks import sweep as bench
from experiments.lib import records


def variant(trials: int, wall: float, cpu: float | None) -> dict:
    return {"per_trial": [], "timesteps": 4000 * trials, "best": 500.0, "top3": 480.0,
            "pruned": 0, "failed": 0, "trials": trials, "wall": wall, "cpu": cpu}  # fmt: skip


def record(**variants: dict) -> dict:
    return {"command": "python -m experiments.benchmarks.sweep --trials 4", "commit": "abc1234",
            "dirty": "false", "machine": "m", "trials": 4, "timesteps": 4000, "cpus": 2,
            "variants": variants}  # fmt: skip


def test_the_page_gives_trackings_cost_per_trial_in_wall_and_cpu() -> None:
    page = bench.render(
        record(
            **{
                "no pruning": variant(4, 100.0, 180.0),
                "no pruning, tracking off": variant(4, 90.0, 160.0),
            }  # fmt: skip
        )
    )
    assert "tracking: +2.50 s wall per trial (+11.1%) over the same 4 trials" in page
    assert "+5.00 s CPU per trial (+12.5%)" in page
    assert "CPU s" in page


def test_a_record_without_cpu_still_renders() -> None:
    page = bench.render(record(**{"no pruning": variant(4, 100.0, None)}))
    assert "tracking:" not in page and " - " in page


def test_the_tracking_off_variant_runs_the_same_trials_without_mlflow() -> None:
    assert bench.REPLAY["no pruning, tracking off"] == "no pruning"
    assert "mlflow.enabled=false" in bench.VARIANTS["no pruning, tracking off"]


@pytest.mark.slow
def test_a_tiny_run_records_tracking_on_and_off(tmp_path: Path) -> None:
    out = tmp_path / "sweep.md"
    bench.main(["--trials", "2", "--timesteps", "512", "--quick",
                "--variants", "no pruning, tracking off", "--out", str(out)])  # fmt: skip
    data = records.load(out)
    on, off = data["variants"]["no pruning"], data["variants"]["no pruning, tracking off"]
    assert on["trials"] == off["trials"] == 2
    assert [t["params"] for t in on["per_trial"]] == [t["params"] for t in off["per_trial"]]
    assert on["cpu"] > 0 and off["cpu"] > 0
    assert "tracking:" in out.read_text()
