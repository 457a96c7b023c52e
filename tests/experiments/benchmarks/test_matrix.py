"""The benchmark table: aggregation math and verdicts on made-up cells; one real 256-step cell
through the harness and MLflow, and the same table rebuilt from the store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from experiments.benchmarks import matrix as bm
from experiments.lib import matrix as lm
from experiments.lib import pages
from experiments.lib import table as bt
from rl_harness.tracking import runs as tracking


def row(key: str) -> bt.Row:
    return next(r for r in bm.MATRIX if r.key == key)


def make_plan(key: str, budget: int, shipped: int, seeds: int) -> bt.Plan:
    return bt.Plan(row(key), list(range(seeds)), budget, shipped, "x.yaml", [])


def cells(
    key: str,
    returns: list[float],
    steps: int = 1000,
    wall: float = 2.0,
    optimum: float | None = None,
) -> list[bt.Cell]:
    return [
        bt.Cell(key, i, "FINISHED", r, steps, wall * (i + 1), optimum)
        for i, r in enumerate(returns)
    ]


def stats(
    key: str,
    returns: list[float],
    budget: int = 1000,
    shipped: int = 1000,
    threshold: float | None = 475.0,
    **kw,
) -> bt.RowStats:
    s = bt.RowStats(make_plan(key, budget, shipped, len(returns)), cells(key, returns, **kw))
    s.reference, s.threshold = (None, None) if threshold is None else (500.0, threshold)
    return s


def test_mean_std_iqm_across_seeds() -> None:
    s = stats("ppo/cartpole", [1.0, 2.0, 3.0, 100.0])
    assert s.mean == pytest.approx(26.5)
    assert s.std == pytest.approx(np.std([1, 2, 3, 100], ddof=1))
    assert s.iqm == pytest.approx(2.5)  # the middle half: (2 + 3) / 2
    # walls 2, 4, 6, 8 s for 1000 steps each
    assert s.wall_s == pytest.approx(5.0)
    assert s.steps_per_s == pytest.approx(4000 / 20)


def test_iqm_trims_a_quarter_from_each_end() -> None:
    s = stats("ppo/cartpole", [10.0, 0.0, 4.0, 6.0, 8.0, 2.0, 1000.0, -1000.0])
    assert s.iqm == pytest.approx(np.mean([2.0, 4.0, 6.0, 8.0]))


def test_the_iqm_has_a_bootstrap_interval_from_five_seeds_on() -> None:
    five = [10.0, 12.0, 13.0, 15.0, 30.0]
    s = stats("ppo/cartpole", five)
    low, high = s.iqm_ci()  # type: ignore[misc]
    assert low <= s.iqm <= high and low < high
    # one row: the stratified bootstrap is the plain percentile bootstrap of its seeds
    _, ref_low, ref_high = bt.stratified_bootstrap_ci([five], bt.aggregate_iqm, 50_000, 0.95, 0)
    assert (low, high) == (ref_low, ref_high)
    assert bt.iqm_text(five) == f"{s.iqm:.2f} [{low:.2f}, {high:.2f}]"
    four = stats("ppo/cartpole", five[:4])
    assert four.iqm_ci() is None
    assert bt.iqm_text(five[:4]) == "12.50 (no CI: 4 seeds < 5)"
    assert bt.iqm_text([7.0]) == "7.00 (no CI: 1 seed < 5)" and bt.iqm_text([]) == "—"


def test_one_seed_has_no_std() -> None:
    s = stats("ppo/cartpole", [500.0])
    assert s.mean == 500.0 and s.iqm == 500.0 and math.isnan(s.std)


@pytest.mark.parametrize(
    ("returns", "budget", "shipped", "expected"),
    [
        ([500.0, 480.0], 100_000, 100_000, "yes (≥ 475.0)"),
        ([500.0, 420.0], 100_000, 100_000, "no (≥ 475.0)"),
        ([500.0, 500.0], 30_000, 100_000, "no claim: reduced budget (met: ≥ 475.0)"),
        ([500.0, 500.0], 200_000, 200_000, "no claim: budget 200,000 > reference budget"),
    ],
)
def test_verdict(returns: list[float], budget: int, shipped: int, expected: str) -> None:
    assert stats("ppo/cartpole", returns, budget, shipped).verdict() == expected


def test_a_full_budget_stands_in_only_where_no_tuned_file_ships() -> None:
    # a row's full_budget would hide the shipped budget of its hparams file and score the
    # shipped config at a budget it was never tuned for, without saying it was cut
    for r in bm.MATRIX:
        if r.full_budget is not None:
            assert lm.hparams_file(r.algo, r.env) is None, r.key


def test_a_failed_seed_is_shown_and_blocks_the_claim() -> None:
    s = stats("ppo/cartpole", [500.0, 500.0], 100_000, 100_000)
    s.plan.seeds.append(2)
    s.cells.append(bt.Cell("ppo/cartpole", 2, "FAILED", error="ValueError: boom"))
    assert s.verdict() == "no (a seed failed)"
    line = bt.table([s]).splitlines()[2]
    assert "| 2/3 ✗ |" in line
    assert bt.errors([s]) == ["- ppo/cartpole seed 2: FAILED ValueError: boom"]


def test_table_columns_and_cells() -> None:
    cart = stats("ppo/cartpole", [500.0, 490.0], 30_000, 100_000)
    custom = stats("qlearning/custom", [1900.0, 1800.0], optimum=2000.0, threshold=None)
    lines = bt.table([cart, custom]).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == bt.COLUMNS
    assert lines[1] == "|" + "---|" * len(bt.COLUMNS)
    first = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|")), strict=True))
    assert first["algo"] == "ppo" and first["env"] == "cartpole"
    assert first["timesteps"] == "30,000 (cut from 100,000)"
    assert first["final eval mean ± std"] == f"495.0 ± {np.std([500, 490], ddof=1):.2f}"
    assert first["IQM [95% CI]"] == "495.0 (no CI: 2 seeds < 5)"
    assert first["per seed"] == "500.0, 490.0"
    assert first["% of optimum (± 95% CI)"] == "—"
    assert first["reference (budget)"] == "RL Zoo: 500 ± 0; budget 100k"
    assert first["reached?"].startswith("no claim: reduced budget")
    second = dict(zip(header, (c.strip() for c in lines[3].strip("|").split("|")), strict=True))
    half = 12.706 * np.std([1900, 1800], ddof=1) / np.sqrt(2) / 2000 * 100  # t(1) = 12.706
    assert second["% of optimum (± 95% CI)"] == f"92.5 ± {half:.1f}"  # 1850 / 2000
    assert second["reached?"] == "—"


def test_readme_block_is_replaced() -> None:
    text = "intro\n<!-- bench:start -->\nold\n<!-- bench:end -->\nafter\n"
    assert pages.block(text, "bench", "TABLE\n\nOVERHEAD\n") == (
        "intro\n<!-- bench:start -->\nTABLE\n\nOVERHEAD\n<!-- bench:end -->\nafter\n"
    )
    with pytest.raises(SystemExit):
        pages.block("no markers\n", "bench", "x")


def test_a_tables_record_renders_the_table_it_was_written_with() -> None:
    """The page is a function of the record alone: every cell, each row's definition."""
    rows = [
        stats("ppo/cartpole", [500.0, 490.0], 30_000, 100_000),
        stats("qlearning/custom", [1900.0, 1800.0], optimum=2000.0, threshold=None),
    ]
    rows[0].cells.append(bt.Cell("ppo/cartpole", 2, "FAILED", error="ValueError: boom"))
    record = lm.record(rows, "b-1", "python -m experiments.benchmarks.matrix --quick",
                       mode="quick", title="Matrix", total_s=90.0)  # fmt: skip
    record = json.loads(json.dumps(record))  # as read back from its file
    assert bm.render(record) == bt.report(rows, record)
    assert "### Matrix (quick in 1.5 min)" in bm.render(record)
    assert record["rows"][0]["cells"][1]["mean_reward"] == 490.0


def test_a_stopped_cell_runs_before_cells_not_started() -> None:
    plans = [make_plan("ppo/cartpole", 1000, 1000, 3), make_plan("a2c/cartpole", 1000, 1000, 2)]
    recorded = [
        bt.Cell("ppo/cartpole", 0, "FINISHED", 500.0, 1000, 2.0, None),
        bt.Cell("a2c/cartpole", 1, "KILLED", None, None, None, None),
        bt.Cell("ppo/cartpole", 2, "FAILED", None, None, None, None),
    ]
    order = [(p.row.key, seed) for p, seed in lm.pending(plans, recorded)]
    # finished cells dropped, the stopped one first, the rest in plan order
    assert order == [
        ("a2c/cartpole", 1),
        ("ppo/cartpole", 1),
        ("ppo/cartpole", 2),
        ("a2c/cartpole", 0),
    ]


def test_a_begun_rows_seeds_run_before_rows_not_started() -> None:
    plans = [make_plan("a2c/cartpole", 1000, 1000, 2), make_plan("sac/pendulum", 1000, 1000, 3)]
    recorded = [
        bt.Cell("sac/pendulum", 0, "FINISHED", -150.0, 1000, 2.0, None),
        bt.Cell("sac/pendulum", 1, "FINISHED", -160.0, 1000, 2.0, None),
    ]
    order = [(p.row.key, seed) for p, seed in lm.pending(plans, recorded)]
    # sac/pendulum's last seed makes its row whole before a2c/cartpole starts
    assert order == [("sac/pendulum", 2), ("a2c/cartpole", 0), ("a2c/cartpole", 1)]


def test_one_real_cell_through_harness_and_mlflow(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    bm.main(
        [
            "--quick",
            "--rows",
            "ppo/cartpole",
            "--seeds",
            "0",
            "--max-steps",
            "256",
            "--out",
            str(out),
            "--outputs",
            str(tmp_path / "runs"),
        ]
    )
    client = MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(bt.EXPERIMENT)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["bench"] == "quick" and run.data.tags["bench.row"] == "ppo/cartpole"
    assert run.data.metrics["bench/timesteps"] >= 256
    text = out.read_text()
    line = next(x for x in text.splitlines() if x.startswith("| ppo | cartpole"))
    mean = run.data.metrics["final/mean_reward"]
    assert f"| {bt.num(mean)} ± — |" in line
    assert "no claim: reduced budget" in line
    # the same table, rebuilt from the store alone
    rebuilt = tmp_path / "rebuilt.md"
    bench_id = run.data.tags["bench.id"]
    bm.main(["--from-mlflow", bench_id, "--out", str(rebuilt)])
    assert line in rebuilt.read_text().splitlines()
    # a stopped second run of the same cell: the finished one still counts, and a rerun of the
    # bench under the same id trains nothing more
    killed = client.create_run(exp.experiment_id, tags=dict(run.data.tags))
    client.log_param(killed.info.run_id, "seed", 0)
    client.set_terminated(killed.info.run_id, "KILLED")
    (cell,) = lm.collect(bench_id)
    assert cell.status == "FINISHED" and cell.mean_reward == mean
    (row,) = bm.selected(["ppo/cartpole"], quick=True)
    lm.run_matrix([lm.plan(row, True, [0], 256)], "quick", bench_id, tmp_path / "again")
    assert len(client.search_runs([exp.experiment_id])) == 2
    assert not (tmp_path / "again").exists()


@pytest.mark.slow  # two spawned processes, each importing torch, SB3 and MLflow
def test_two_cells_at_once_each_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    args = ["--quick", "--rows", "ppo/cartpole", "--seeds", "0", "1", "--max-steps", "256"]
    bm.main([*args, "--jobs", "2", "--out", str(out), "--outputs", str(tmp_path / "runs")])
    client = MlflowClient(tracking.tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name(bt.EXPERIMENT).experiment_id])
    assert sorted(int(r.data.params["seed"]) for r in runs) == [0, 1]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["bench.id"] for r in runs}) == 1  # one bench, one table
    text = out.read_text()
    assert "--jobs 2" in text  # the provenance line says the cells shared the machine
    assert "| 2/2 |" in next(x for x in text.splitlines() if x.startswith("| ppo | cartpole"))


def test_jobs_below_one_is_refused_before_any_training(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        bm.main(["--quick", "--rows", "ppo/cartpole", "--jobs", "0"])
    assert exit_.value.code == 2
    assert "--jobs 0: give 1 or more" in capsys.readouterr().err


def test_quick_results_never_refresh_readme(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        bm.main(["--quick", "--readme"])
    assert e.value.code == 2 and "--readme publishes full results only" in capsys.readouterr().err


def test_twice_the_budget_trains_twice_the_shipped_steps_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 43: where a target is not met, does it hold at twice today's budget?"""
    row = next(r for r in bm.MATRIX if r.key == "dqn/custom")
    once, twice = lm.plan(row, False, [8000], None), lm.plan(row, False, [8000], None, times=2)
    assert twice.budget == 2 * once.budget == 2 * twice.shipped
    assert f"n_timesteps={twice.budget}" in twice.overrides and not twice.reduced
    for bad in (["--budget-times", "0"], ["--quick", "--budget-times", "2"]):
        with pytest.raises(SystemExit) as e:
            bm.main(["--rows", "dqn/custom", *bad])
        assert e.value.code == 2 and "in full mode only" in capsys.readouterr().err
