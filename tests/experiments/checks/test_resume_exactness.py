"""Exact resume: a run stopped anywhere and resumed ends where the uninterrupted run ends —
the same weights, metric history and closing evaluation. The cases are those of the published
table (experiments/checks/resume_exactness.py), which this checks against them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from experiments.checks import resume_exactness as exactness
from rl_harness.analysis import sameness
from rl_harness.errors import StopOnce, Stopped
from rl_harness.tracking import runs as tracking
from rl_harness.training.callbacks import Checkpoint, stops_at_rollout_start
from tests.rl_harness.training.test_resume import (
    SLOW_PPO,
    checkpoint_step,
    harness_cli,
    resume_cli,
    runs,
    start_training,
    wait_for_checkpoint,
    wait_past,
)

FAST = ("ppo-cartpole", "qlearning-custom", "ppo-cartpole-old-checkpoint")


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[] if n in FAST else [pytest.mark.slow]) for n in exactness.CASES],
)
def test_a_run_killed_between_checkpoints_resumes_to_the_uninterrupted_result(
    name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    case = exactness.CASES[name]
    verdict = exactness.stop_and_resume(name, case, tmp_path)
    said = [line for line in capfd.readouterr().err.splitlines() if "not exactly" in line]
    assert verdict.checkpoint < verdict.stopped_at  # steps after the checkpoint were redone
    assert verdict.exact is case.expected_exact, verdict
    if case.expected_exact:
        assert verdict.resume_exact_tag == "true" and not said
    else:  # says so in one line, and the check sees the difference it makes
        assert verdict.resume_exact_tag == "false"
        assert case.why_not in verdict.resume_inexact
        (line,) = said
        assert line.startswith("rl_harness: resuming from ") and case.why_not in line


def test_the_published_exactness_table_is_the_cases_verdicts_rendered_from_its_record() -> None:
    data = json.loads(exactness.RECORD.read_text())
    assert [row["case"] for row in data["rows"]] == list(exactness.CASES)
    for row in data["rows"]:
        assert row["exact"] is exactness.CASES[row["case"]].expected_exact, row["case"]
        assert row["overrides"] == exactness.CASES[row["case"]].overrides
    assert exactness.RECORD.with_suffix(".md").read_text() == exactness.render(data)


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, pytest.param(signal.SIGKILL, marks=pytest.mark.slow)],
    ids=["sigterm", "sigkill"],
)
def test_a_cli_run_stopped_by_a_signal_resumes_to_the_uninterrupted_result(
    tmp_path: Path, signum: int
) -> None:
    args = ("n_timesteps=3000", "checkpoint.freq=500", "seed=5")
    harness_cli(tmp_path, *SLOW_PPO, f"hydra.run.dir={tmp_path / 'whole'}", *args)
    proc = start_training(tmp_path, *args)
    latest = wait_for_checkpoint(proc, tmp_path / "run/checkpoints", 1000)
    wait_past(proc, tmp_path / "run", checkpoint_step(latest))
    proc.send_signal(signum)
    proc.wait(timeout=60)
    (stopped,) = [r for r in runs() if r.data.tags["rl_harness.output_dir"].endswith("/run")]
    said = proc.stderr.read().strip().splitlines()  # SIGKILL: nothing
    resume_cli(stopped.info.run_id, tmp_path)
    client = tracking.client()
    (first,) = [r for r in runs() if r.info.run_id != stopped.info.run_id]
    resumed = client.get_run(stopped.info.run_id)
    assert resumed.data.tags["resume.exact"] == "true"
    from_step = int(resumed.data.metrics["resume/from_step"])
    if signum == signal.SIGTERM:  # stopped at a rollout's start, checkpointed there: no step redone
        line = said[-1]
        assert f"at step {from_step:,}; checkpoint {tmp_path}/run/checkpoints/step_" in line
        assert line.startswith("rl_harness: stopped by SIGTERM")
    assert not sameness.weight_differences(tmp_path / "whole/model.zip", tmp_path / "run/model.zip")
    assert not sameness.history_differences(
        sameness.metric_history(client, first.info.run_id),
        sameness.metric_history(client, resumed.info.run_id),
    )
    assert not sameness.final_differences(first.data.metrics, resumed.data.metrics)


def test_the_first_stop_signal_waits_for_a_rollouts_start_and_a_second_stops_at_once(
    tmp_path: Path,
) -> None:
    saver = Checkpoint(tmp_path, freq=100, keep=1, replay_buffer=False)
    before = signal.getsignal(signal.SIGTERM)
    with stops_at_rollout_start(saver):
        os.kill(os.getpid(), signal.SIGTERM)
        assert saver.stop_signal == signal.SIGTERM  # asked, not yet stopped
        with pytest.raises(Stopped) as second:
            os.kill(os.getpid(), signal.SIGINT)
    assert second.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGTERM) == before  # handlers given back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_benchmarks_stop_once_handler_waits_for_a_rollouts_start_and_lets_later_signals_pass(
    tmp_path: Path,
) -> None:
    """A bench cell stopped by `kill` resumes exactly (its checkpoint is at a rollout's start);
    the pool's forwarded second signal neither stops it at once nor, after training, cuts
    short what the bench writes on the way out."""
    saver = Checkpoint(tmp_path, freq=100, keep=1, replay_buffer=False)
    once = StopOnce()
    before = {s: signal.signal(s, once) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with stops_at_rollout_start(saver):
            os.kill(os.getpid(), signal.SIGTERM)
            assert saver.stop_signal == signal.SIGTERM and once.stopping  # asked, not stopped
            os.kill(os.getpid(), signal.SIGINT)  # let pass
            assert saver.stop_signal == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is once  # given back, already stopping:
        os.kill(os.getpid(), signal.SIGTERM)  # passes
        fresh = StopOnce()
        signal.signal(signal.SIGTERM, fresh)
        with pytest.raises(Stopped) as first:  # outside training: stops at once
            os.kill(os.getpid(), signal.SIGTERM)
        assert first.value.signum == signal.SIGTERM and fresh.stopping
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
