"""The RL Zoo reproduction gate: a seed counts when it reaches RL Zoo's mean − ½ its episode
std; every pair it lists has a shipped config; and (slow) the gate holds for ARS on CartPole,
PPO and TRPO on Pendulum."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from experiments.gates import zoo_gate as gate
from experiments.gates import zoo_pairs as pairs_
from experiments.gates import zoo_results as results_
from experiments.gates import zoo_stats as zs
from experiments.gates import zoo_table as table_
from experiments.lib import matrix, records
from experiments.lib import table as bt
from rl_harness.common import stats
from rl_harness.config.preflight import CONF_DIR
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]


def test_a_seed_counts_when_it_reaches_rl_zoos_mean_less_half_its_episode_std() -> None:
    row = next(r for r in pairs_.rows() if r.key == "sac/pendulum")
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
    assert pairs_.succeeded(s) == 2
    line = table_.table([s]).splitlines()[-1]
    assert "2 of 4 (1 failed)" in line and "≥ -201.4" in line and "20,000 (20,000)" in line


def test_every_pair_of_the_gate_ships_a_config_and_a_known_speed() -> None:
    for row in pairs_.rows():
        assert (CONF_DIR / "hparams" / f"{row.algo}_{row.env}.yaml").exists(), row.key
        assert row.algo in pairs_.STEPS_PER_S
    assert len(pairs_.rows()) == len(pairs_.ZOO_SCORES) >= 40


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["ars/cartpole", "ppo/pendulum", "trpo/pendulum"])
def test_the_gate_holds(tmp_path: Path, pair: str) -> None:
    """3 seeds at RL Zoo's budget (ARS 50k steps on CartPole, PPO and TRPO 100k on Pendulum;
    under a minute a seed): at least 2 reach RL Zoo's mean − ½ std over the closing evaluation's
    30 episodes. The gate's first 3 report seeds, as its run zoo-gate-report-20261207b
    trained them (on one torch thread, 5-39 s a seed): all 3 reach it, 500 each; -177.1 to
    -190.1 against ≥ -224; -180.6 to -197.1 against ≥ -238."""
    out = tmp_path / "gate.md"
    seeds = map(str, pairs_.SEEDS[:3])
    args = ["--rows", pair, "--seeds", *seeds, "--jobs", "2", "--out", str(out)]
    (s,) = gate.main([*args, "--outputs", str(tmp_path / "runs")])
    assert len(s.done) == 3 and pairs_.succeeded(s) >= 2, s.returns
    assert f"{pairs_.succeeded(s)} of 3" in out.read_text()


def report(stats: list[bt.RowStats], bench_id: str, command: str) -> str:
    """A run's page as the gate renders it from its record."""
    return table_.report(stats, {**records.header(command), "bench_id": bench_id})


def write_run(
    results: Path, stats: list[bt.RowStats], bench_id: str, command: str, created: str = ""
) -> None:
    """A run's record (and its page) under results/zoo_gate/, as the gate writes them; `created`
    stands for a later or earlier time than now."""
    record = matrix.record(stats, bench_id, command)
    if created:
        record["created"] = created
    records.write(record, results / "zoo_gate" / f"{bench_id}.md")


def _stats(
    key: str,
    returns: list[float | None],
    budget: int = 50_000,
    wall_s: float | None = None,
    seeds: list[int] | None = None,
) -> bt.RowStats:
    """A pair's row as a gate run reports it: one seed per return (None: it failed)."""
    row = next(r for r in pairs_.rows() if r.key == key)
    assert row.reference is not None and row.reference.value is not None
    seeds = seeds or list(range(len(returns)))
    cells = [
        bt.Cell(key, k, "FINISHED" if x is not None else "FAILED", x, budget, wall_s)
        for k, x in zip(seeds, returns, strict=True)
    ]
    s = bt.RowStats(bt.Plan(row, seeds, budget, budget, None), cells)
    s.reference = row.reference.value
    s.threshold = row.reference.threshold()
    return s


def test_readmes_table_merges_the_runs_files_and_a_later_run_replaces_a_pair(
    tmp_path: Path,
) -> None:
    """Each run's store stays on the machine that ran it: README's table comes from the runs'
    records."""

    early = [_stats("ars/cartpole", [500.0, 500.0, 20.0]), _stats("trpo/cartpole", [500.0])]
    write_run(tmp_path, early, "zoo-gate-1", "python -m experiments.gates.zoo_gate first")
    late = [_stats("trpo/cartpole", [500.0, 500.0, 500.0])]
    write_run(tmp_path, late, "zoo-gate-2", "python -m experiments.gates.zoo_gate second")
    text = results_.merged(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| ars") or "| trpo" in line]
    assert len(rows) == 2
    assert rows[0].startswith("| ars | cartpole") and "| 2 of 3 | — | zoo-gate-1 |" in rows[0]
    assert "| 3 of 3 |" in rows[1] and rows[1].endswith("zoo-gate-2 |")
    assert "5 of 6 seeds over 2 pairs" in text
    assert "`zoo-gate-1`: Generated" in text
    assert "`python -m experiments.gates.zoo_gate second`" in text
    pending = next(line for line in text.splitlines() if line.startswith("Not yet trained"))
    assert pending.startswith(f"Not yet trained ({len(pairs_.ZOO_SCORES) - 2} of the gate's")
    assert "`ppo/pendulum`" in pending and "`a2c/cartpole`" in pending
    assert "`ars/cartpole`" not in pending and "`trpo/cartpole`" not in pending


def test_seeds_other_than_0_to_n_print_with_their_seed_and_a_failed_seed_by_name() -> None:
    assert table_.per_seed(_stats("ars/cartpole", [500.0, 20.0]).cells, 500.0)[0] == "500.0, 20.00"
    later = _stats("ars/cartpole", [500.0, None], seeds=[1, 2])
    assert table_.per_seed(later.cells, 500.0)[0] == "s1 500.0, s2 failed"
    assert "| 1 of 2 (1 failed) |" in table_.table([later])


def test_readmes_row_of_a_pair_joins_its_seeds_from_runs_on_machines_sharing_no_store(
    tmp_path: Path,
) -> None:
    """A sitting on one machine trains seed 0 of a pair, one on another seeds 1 and 2 (the first
    store is gone): README's row holds all three, from both runs; a seed both trained is the
    later run's unless that one failed, the files taken in the order they were written, not by
    name; a run at another budget replaces the pair's row; `--plan` names the seeds held."""
    gate_ = "python -m experiments.gates.zoo_gate"
    first = [_stats("sac/pendulum", [-150.0], 20_000, 300.0), _stats("ars/cartpole", [500.0])]
    write_run(tmp_path, first, "zoo-gate-1", gate_)
    second = [
        _stats("sac/pendulum", [-250.0, -140.0], 20_000, 400.0, seeds=[1, 2]),
        _stats("ars/cartpole", [500.0], 100_000),
    ]
    write_run(tmp_path, second, "zoo-gate-2", gate_)
    assert "| s1 -250.0, s2 -140.0 |" in (tmp_path / "zoo_gate" / "zoo-gate-2.md").read_text()
    text = results_.merged(tmp_path)
    (sac,) = [line for line in text.splitlines() if line.startswith("| sac | pendulum")]
    assert "| -150.0, -250.0, -140.0 |" in sac and "| 2 of 3 |" in sac
    assert sac.endswith("| 367 | zoo-gate-1, zoo-gate-2 |")  # (300 + 400 + 400) / 3
    (ars,) = [line for line in text.splitlines() if line.startswith("| ars | cartpole")]
    assert "| 100,000 (50,000) | 500.0 |" in ars and ars.endswith("| zoo-gate-2 |")
    assert "3 of 4 seeds over 2 pairs" in text
    # neither holds a report seed yet
    assert text.splitlines()[-1] == (
        "Not yet on report seeds (2 pairs: their rows hold seeds trained before the seed "
        "blocks): `ars/cartpole`, `sac/pendulum`."
    )
    one = report([_stats("ars/cartpole", [500.0])], "zoo-gate-3", "x")
    assert "1 of 1 seed over 1 pair reaches RL Zoo's score." in one

    retrain = [_stats("sac/pendulum", [None, -160.0, None], 20_000, 500.0, seeds=[1, 2, 3])]
    # its name sorts first; its record is later
    write_run(tmp_path, retrain, "a-rerun", gate_, created="2999-01-01 00:00 UTC")
    (sac,) = [line for line in results_.merged(tmp_path).splitlines() if line.startswith("| sac")]
    assert "| s0 -150.0, s1 -250.0, s2 -160.0, s3 failed |" in sac
    assert "| 2 of 4 (1 failed) |" in sac and sac.endswith("| zoo-gate-1, zoo-gate-2, a-rerun |")
    row = next(r for r in pairs_.rows() if r.key == "sac/pendulum")
    pairs = results_.merged_pairs(tmp_path)
    assert results_.held(bt.Plan(row, [0, 1, 2], 20_000, 20_000, None), pairs) == [0, 1, 2]
    assert results_.held(bt.Plan(row, [0, 1, 2], 40_000, 40_000, None), pairs) == []
    assert results_.held(bt.Plan(row, [0, 1, 2], 20_000, 20_000, "other.yaml"), pairs) == []


def test_a_merged_rows_iqm_and_p_are_its_run_pages_computed_from_unrounded_returns(
    tmp_path: Path,
) -> None:
    """A seed prints rounded (-125.1 for -125.0667); the merged table computes a pair's IQM and
    P(seed > RL Zoo) from the returns its run recorded, so that they read as on the run's page
    (from the printed values, this pair's IQM read -122.0 there and -122.1 on its page)."""
    returns = [-125.0666, -109.7333, -122.5333, -122.5333, -121.1]
    run = [_stats("a2c/mountaincar", returns, 1_000_000, 65.0, seeds=pairs_.SEEDS)]
    write_run(tmp_path, run, "zoo-gate-r", "python -m experiments.gates.zoo_gate")
    page = report(run, "zoo-gate-r", "x")
    (on_page,) = [line for line in page.splitlines() if line.startswith("| a2c | mountaincar")]
    (merged,) = [line for line in results_.merged(tmp_path).splitlines()
                 if line.startswith("| a2c | mountaincar")]  # fmt: skip
    iqm, p = (pairs_.SHOWN.index(c) for c in ("IQM [95% CI]", "P(seed > RL Zoo)"))
    assert on_page.split(" | ")[iqm].startswith("-122.1 [")
    assert merged.split(" | ")[iqm] == on_page.split(" | ")[iqm]
    assert merged.split(" | ")[p] == on_page.split(" | ")[p]
    rounded = [float(v) for v in results_.seeds_of(merged.strip("| ").split(" | ")).values()]
    assert table_.derived(rounded, "a2c", "mountaincar")[0].startswith("-122.0 [")  # the old way
    assert results_.merged_values(tmp_path)["a2c", "mountaincar"] == returns


def test_report_seeds_make_a_pairs_row_alone_and_a_long_pair_wants_three(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seeds 0-2 predate the seed blocks: once a pair has report seeds its row shows only
    those. A pair wants the gate's 5 report seeds, 3 where a seed trains over 30 min here (by
    the measured wall time of its report seeds; by the estimate when the gate plans)."""
    report_seeds = pairs_.SEEDS
    assert report_seeds == list(range(8000, 8005))
    old = [
        _stats("ars/cartpole", [500.0, 20.0, 500.0], wall_s=10.0),
        _stats("tqc/lunarlander_continuous", [250.0, 260.0, 270.0], 500_000, 15_000.0),
    ]
    write_run(tmp_path, old, "zoo-gate-old", "python -m experiments.gates.zoo_gate")
    new = [
        _stats("ars/cartpole", [500.0] * 5, wall_s=12.0, seeds=report_seeds),
        _stats("tqc/lunarlander_continuous", [240.0, 230.0], 500_000, 16_000.0,
               seeds=report_seeds[:2]),
    ]  # fmt: skip
    write_run(tmp_path, new, "zoo-gate-report", "python -m experiments.gates.zoo_gate")
    text = results_.merged(tmp_path)
    (ars,) = [line for line in text.splitlines() if line.startswith("| ars | cartpole")]
    assert "| s8000 500.0, s8001 500.0, s8002 500.0, s8003 500.0, s8004 500.0 |" in ars
    assert "| 5 of 5 |" in ars and ars.endswith("| 12 | zoo-gate-report |")
    (tqc,) = [line for line in text.splitlines() if line.startswith("| tqc")]
    assert "| s8000 240.0, s8001 230.0 |" in tqc and "| 16000 | zoo-gate-report |" in tqc
    short = text.splitlines()[-1]  # tqc has 2 of its 3; ars has its 5
    assert short.startswith("Fewer report seeds than the gate's so far (5 a pair, 3 where a ")
    assert short.endswith("trains the others): `tqc/lunarlander_continuous` (8000, 8001).")
    assert "Not yet on report seeds" not in text

    assert pairs_.seeds_for(29.0) == pairs_.seeds_for(None) == report_seeds
    assert pairs_.seeds_for(31.0) == report_seeds[:3]
    gate.main(["--rows", "ars/cartpole", "tqc/lunarlander_continuous", "--plan"])
    planned = capsys.readouterr().out.splitlines()  # estimated from the repository's records
    assert "seeds 8000, 8001, 8002, 8003, 8004" in planned[0]
    assert (
        planned[1].startswith("tqc/lunarlander_continuous")
        and "seeds 8000, 8001, 8002  (" in planned[1]
    )


def test_a_printed_seed_that_is_no_number_reads_as_failed() -> None:
    cells = ["sac", "pendulum", "defaults", "20,000 (20,000)", "", "", "≥ -201.4", "", ""]
    for printed, seeds in [("-150.0, —", {0: "-150.0", 1: "failed"}),
                           ("s2 —, s4 -1.00", {2: "failed", 4: "-1.00"})]:  # fmt: skip
        cells[pairs_.COLUMNS.index("per seed")] = printed
        assert results_.seeds_of(cells) == seeds


def test_a_rebuilt_table_waits_for_a_seed_stopped_part_way_and_counts_a_failed_one() -> None:
    cells = [bt.Cell("sac/pendulum", k, status) for k, status in
             enumerate(["FINISHED", "KILLED", "RUNNING", "FAILED"])]  # fmt: skip
    assert [c.seed for c in gate.settled(cells, "zoo-gate-1")] == [0, 3]


def test_a_pairs_estimate_is_its_measured_rate_else_its_algos_cost_plus_its_envs(
    tmp_path: Path,
) -> None:
    """Seconds per step: SAC 0.02, PPO 0.0002; Pendulum 0.0001, LunarLanderContinuous 0.0008.
    SAC on LunarLanderContinuous was never timed: 0.0208 s per step, not PPO's 0.001."""
    timed = [
        _stats("sac/pendulum", [0.0], 20_000, 20_000 * 0.0201),
        _stats("ppo/pendulum", [0.0], 100_000, 100_000 * 0.0003),
        _stats("ppo/lunarlander_continuous", [0.0], 1_000_000, 1_000_000 * 0.001),
    ]
    write_run(tmp_path, timed, "zoo-gate-1", "python -m experiments.gates.zoo_gate")
    measured = results_.rates(tmp_path)
    assert measured[("ppo", "pendulum")] == pytest.approx(1 / 0.0003, rel=1e-3)
    rate = gate.steps_per_s(measured)

    def plan(key: str, budget: int) -> bt.Plan:
        return bt.Plan(next(r for r in pairs_.rows() if r.key == key), [0], budget, budget, None)

    assert gate.minutes(plan("ppo/pendulum", 200_000), rate) == pytest.approx(1, rel=1e-3)
    sac_llc = gate.minutes(plan("sac/lunarlander_continuous", 300_000), rate)
    assert sac_llc == pytest.approx(300_000 * 0.0208 / 60, rel=1e-2)
    td3 = gate.minutes(plan("td3/pendulum", 12_000), rate)  # never timed: STEPS_PER_S
    assert td3 == pytest.approx(12_000 / pairs_.STEPS_PER_S["td3"] / 60)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_killed_gate_leaves_no_running_run_and_its_rerun_continues_each_seed(
    tmp_path: Path, jobs: int
) -> None:
    """`kill` of the gate's process mid-cell (its workers' too, with --jobs): each seed being
    trained writes a checkpoint and ends KILLED, and the process says how to go on; the same
    command again continues each seed from its checkpoint in the same MLflow run, which ends
    FINISHED with the wall time of both pieces."""
    seeds = [str(s) for s in range(jobs)]
    args = ["--rows", "ars/cartpole", "--seeds", *seeds, "--id", "zoo-gate-test"]
    args += ["--jobs", str(jobs), "--out", str(tmp_path / "gate.md")]
    args += ["--outputs", str(tmp_path / "runs")]
    cmd = [sys.executable, "-m", "experiments.gates.zoo_gate", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # training is under way once SB3 has logged (watched on disk: polling the SQLite store
    # while the cell writes to it can lock the cell out)
    cells = [tmp_path / "runs" / "zoo-gate-test" / f"ars_cartpole_s{s}" for s in seeds]
    progress = [cell / "progress.csv" for cell in cells]
    wait_for(lambda: all(p.exists() and p.stat().st_size for p in progress), "training", 300)
    proc.send_signal(signal.SIGTERM)  # this process only: it stops its workers itself
    out = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 130, out
    assert "rerun with --id zoo-gate-test to continue" in out
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name(bt.EXPERIMENT)
    killed = client.search_runs([exp.experiment_id])
    assert sorted(r.info.status for r in killed) == ["KILLED"] * jobs, out
    assert all(list((cell / "checkpoints").glob("step_*")) for cell in cells), out

    (s,) = gate.main(args)
    assert [c.status for c in s.cells] == ["FINISHED"] * jobs
    assert f"{pairs_.succeeded(s)} of {jobs}" in (tmp_path / "gate.md").read_text()
    for run in client.search_runs([exp.experiment_id]):  # the same runs, continued
        assert run.info.run_id in {r.info.run_id for r in killed}
        assert run.info.status == "FINISHED" and run.data.metrics["resume/from_step"] > 0
        assert run.data.tags["resume.exact"] == "true", run.data.tags.get("resume.inexact")
        pieces = client.get_metric_history(run.info.run_id, "bench/piece_wall_s")
        assert len(pieces) == 2
        assert run.data.metrics["bench/wall_s"] == pytest.approx(sum(m.value for m in pieces))


def test_a_seed_just_short_of_the_threshold_does_not_print_equal_to_it() -> None:
    # SAC MountainCarContinuous seed 0: 94.1104 against 94.679 - 1.134 / 2 = 94.112
    assert table_.apart([94.1104, 94.546, 94.6606], 94.112) == (
        ["94.110", "94.546", "94.661"],
        "94.112",
    )
    assert table_.apart([94.2, 94.546], 94.112) == (["94.20", "94.55"], "94.11")  # apart already
    assert table_.apart([500.0, 444.6], 500.0) == (["500.0", "444.6"], "500.0")  # equal reaches


def test_the_summary_counts_seeds_and_pairs_alike_in_thousands_and_in_the_singular() -> None:
    assert table_.summary(1234, 2000, 1).startswith("1,234 of 2,000 seeds over 1 pair reach ")
    assert table_.summary(1, 1, 2).startswith("1 of 1 seed over 2 pairs reaches ")


def test_jobs_or_threads_below_one_stop_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for flag in ("--jobs", "--threads"):
        with pytest.raises(SystemExit):
            gate.main([flag, "0", "--plan"])
        assert f"{flag} 0: give 1 or more" in capsys.readouterr().err


def test_a_seed_beats_rl_zoos_agent_with_the_normal_models_probability() -> None:
    # RL Zoo's sac/pendulum: -156.995 ± 88.714; a seed at its mean wins half the time, one
    # at the gate's threshold (mean − ½ std) Φ(−½) of it
    assert zs.beats_zoo(-156.995, -156.995, 88.714) == pytest.approx(0.5)
    assert zs.beats_zoo(-156.995 - 88.714 / 2, -156.995, 88.714) == pytest.approx(0.30854, 1e-4)
    assert zs.beats_zoo(-156.995 + 88.714, -156.995, 88.714) == pytest.approx(0.84134, 1e-4)
    # std 0 (CartPole's 500 ± 0): a tie counts half
    assert [zs.beats_zoo(x, 500.0, 0.0) for x in (500.0, 499.0, 501.0)] == [0.5, 0.0, 1.0]
    assert zs.p_beats_zoo([500.0, 499.0], 500.0, 0.0) == 0.25
    assert math.isnan(zs.p_beats_zoo([], 500.0, 0.0))


def test_the_gate_table_shows_each_pairs_iqm_and_p_of_beating_rl_zoo() -> None:
    s = _stats("sac/pendulum", [-156.995, -100.0, None], 20_000, 300.0)
    lines = table_.table([s]).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == pairs_.SHOWN
    row = dict(zip(pairs_.SHOWN, (c.strip() for c in lines[2].strip("|").split("|")), strict=True))
    p = (0.5 + zs.beats_zoo(-100.0, -156.995, 88.714)) / 2  # the failed seed counts not
    assert row["P(seed > RL Zoo)"] == f"{p:.2f}"
    assert row["IQM [95% CI]"] == "-128.5 (no CI: 2 seeds < 5)"
    assert row["seeds that reach it"] == "2 of 3 (1 failed)"


def test_the_pairs_mean_p_and_the_performance_profile_come_from_the_records(
    tmp_path: Path,
) -> None:
    pairs = [_stats("ars/cartpole", [500.0, 500.0, 20.0]),
             _stats("sac/pendulum", [-100.0, -150.0, -300.0], 20_000)]  # fmt: skip
    write_run(tmp_path, pairs, "zoo-gate-1", "python -m experiments.gates.zoo_gate")
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- zoo-gate:start -->\nold\n<!-- zoo-gate:end -->\nb\n")
    results_.publish(tmp_path, {"zoo-gate": readme})
    text = readme.read_text()
    sac = [zs.beats_zoo(x, -156.995, 88.714) for x in (-100.0, -150.0, -300.0)]
    mean = (1 / 3 + np.mean(sac)) / 2  # each pair weighs the same
    assert f"P(seed > RL Zoo), the mean over 2 pairs: {mean:.2f} [" in text
    assert (
        "![Performance profile of the RL Zoo gate](experiments/results/zoo_gate_profile.png)"
        in (text)
    )
    assert text.startswith("a\n") and text.endswith("<!-- zoo-gate:end -->\nb\n")
    assert (tmp_path / "zoo_gate_profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the profile at the gate's line is the share of seeds that reach the threshold (per pair)
    tasks = zs.normalized(
        {("sac", "pendulum"): [-100.0, -150.0, -300.0]}, {("sac", "pendulum"): (-156.995, 88.714)}
    )
    assert stats.run_score_profile([0.3])(tasks) == pytest.approx([2 / 3])
    point, low, high = zs.mean_over_pairs(tasks)
    assert low <= point <= high and point == pytest.approx(np.mean(sac))
