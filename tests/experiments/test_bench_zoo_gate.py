"""The RL Zoo reproduction gate: a seed counts when it reaches RL Zoo's mean − ½ its episode
std; every pair it lists has a shipped config; and (slow) the gate holds for ARS on CartPole."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import bench_table as bt
from experiments import bench_zoo_gate as gate
from rl_harness.config.preflight import CONF_DIR


def test_a_seed_counts_when_it_reaches_rl_zoos_mean_less_half_its_episode_std() -> None:
    row = next(r for r in gate.rows() if r.key == "sac/pendulum")
    assert row.reference is not None and row.reference.margin == pytest.approx(88.714 / 2)
    threshold = -156.995 - 88.714 / 2  # -201.35
    cells = [
        bt.Cell(row.key, 0, "FINISHED", -150.0),
        bt.Cell(row.key, 1, "FINISHED", -201.0),  # just above the threshold
        bt.Cell(row.key, 2, "FINISHED", -202.0),  # just below
        bt.Cell(row.key, 3, "FAILED"),
    ]
    s = bt.RowStats(bt.Plan(row, [0, 1, 2, 3], 20_000, 20_000, "sac_pendulum.yaml"), cells)
    s.reference, s.threshold = -156.995, threshold
    assert gate.succeeded(s) == 2
    line = gate.table([s]).splitlines()[-1]
    assert "2 of 4 (1 failed)" in line and "≥ -201.4" in line and "20,000 (20,000)" in line


def test_every_pair_of_the_gate_ships_a_config_and_a_known_speed() -> None:
    for row in gate.rows():
        assert (CONF_DIR / "hparams" / f"{row.algo}_{row.env}.yaml").exists(), row.key
        assert row.algo in gate.STEPS_PER_S
    assert len(gate.rows()) == len(gate.ZOO_SCORES) >= 40


@pytest.mark.slow
def test_the_gate_holds_for_ars_on_cartpole(tmp_path: Path) -> None:
    """3 seeds at RL Zoo's budget (50k steps, ~15 s each): at least 2 reach 500 over the
    closing evaluation's 30 episodes (all 3 did when this was written)."""
    out = tmp_path / "gate.md"
    args = ["--rows", "ars/cartpole", "--seeds", "0", "1", "2", "--out", str(out)]
    (s,) = gate.main([*args, "--outputs", str(tmp_path / "runs")])
    assert len(s.done) == 3 and gate.succeeded(s) >= 2, s.returns
    assert f"{gate.succeeded(s)} of 3" in out.read_text()
