"""Which earlier attempt a job run again continues (tuning/retries.py); the whole path, a worker
killed mid-trial and its trial's run continued on another, is tests/rl_harness/test_cluster.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from rl_harness.tracking import runs
from rl_harness.tuning import retries
from rl_harness.tuning.units import Unit

STUDY = {"optuna.study": "s"}


def test_each_kind_of_job_finds_its_earlier_attempts_by_their_run_tags() -> None:
    first_try = Unit("trial", seed=0, trial=4)
    assert retries.earlier_attempts("s", first_try, retry_of=None) == []  # nothing to search
    assert retries.earlier_attempts("s", first_try, retry_of=2) == [{**STUDY, "optuna.trial": "2"}]
    seed = Unit("trial", seed=7, trial=4, index=1, k=3)
    assert retries.earlier_attempts("s", seed, retry_of=2) == [
        {**STUDY, "optuna.trial": "4", "optuna.seed": "7"},
        {**STUDY, "optuna.trial": "2", "optuna.seed": "7"},
    ]
    retest = Unit("retest", seed=5000, trial=4)
    assert retries.earlier_attempts("s", retest, None) == [
        {**STUDY, "optuna.stage": "retest", "optuna.seed": "5000", "optuna.retest_of": "4"}
    ]
    incumbent = Unit("incumbent", seed=5001)
    assert retries.earlier_attempts("s", incumbent, None) == [
        {**STUDY, "optuna.stage": "incumbent", "optuna.seed": "5001"}
    ]


def open_run(tags: dict[str, str], status: str | None, out_dir: Path) -> str:
    """A run of experiment `e` with `tags`, ended with `status` (None: left RUNNING by us)."""
    client = runs.client()
    exp = runs.get_or_create_experiment(client, "e")
    run = client.create_run(exp, tags={**tags, runs.OUT_DIR_TAG: str(out_dir)})
    if status:
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def test_a_finished_attempt_is_never_continued(tmp_path: Path) -> None:
    match = {**STUDY, "optuna.trial": "2"}
    open_run(match, "FINISHED", tmp_path)
    assert runs.unfinished_runs("e", match) == []
    assert retries.run_to_continue("e", [match]) == (None, "")


def test_an_attempt_without_a_checkpoint_starts_over_and_says_why(tmp_path: Path) -> None:
    match = {**STUDY, "optuna.trial": "2"}
    older = open_run(match, "KILLED", tmp_path)
    newer = open_run(match, "FAILED", tmp_path)
    assert runs.unfinished_runs("e", match) == [newer, older]
    run_id, why = retries.run_to_continue("e", [match])
    assert run_id is None and f"resume={newer}" in why and "no checkpoint" in why


def test_a_run_still_alive_is_waited_for_then_left_alone(tmp_path: Path) -> None:
    match = {**STUDY, "optuna.trial": "2"}
    client = runs.client()
    run_id = open_run(match, None, tmp_path)  # RUNNING, by this very process: alive
    client.set_tag(run_id, runs.PID_TAG, str(os.getpid()))
    client.set_tag(run_id, runs.HOST_TAG, socket.gethostname())
    found, why = retries.run_to_continue("e", [match], patience=0.0)
    assert found is None and "still RUNNING" in why
    assert client.get_run(run_id).info.status == "RUNNING"  # not marked dead by mistake
