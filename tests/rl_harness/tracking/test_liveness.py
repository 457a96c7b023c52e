"""A RUNNING run of another machine is judged by its heartbeat in the store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from rl_harness.tracking import runs as tracking
from rl_harness.tracking.store import HEARTBEAT_TAG, HOST_TAG, INTERVAL_TAG, PID_START_TAG, PID_TAG
from tests.waiting import wait_for


def test_a_run_of_another_host_is_failed_once_its_heartbeat_stops() -> None:
    client = tracking.client()
    exp = tracking.get_or_create_experiment(client, "liveness")
    elsewhere = {HOST_TAG: "another-machine", PID_TAG: "4242", INTERVAL_TAG: "30"}
    beating = client.create_run(exp, tags={**elsewhere, HEARTBEAT_TAG: f"{time.time()}"})
    silent = client.create_run(exp, tags={**elsewhere, HEARTBEAT_TAG: "1000"})
    assert tracking.mark_dead_runs(client, exp) == 1
    assert client.get_run(beating.info.run_id).info.status == "RUNNING"
    dead = client.get_run(silent.info.run_id)
    assert dead.info.status == "FAILED"
    assert dead.data.tags["error"].startswith("process 4242 on another-machine is gone: no heart")


def test_an_open_run_beats_until_it_ends() -> None:
    with tracking.mlflow_run("liveness") as recorder:
        run_id = recorder.run_id
        assert run_id is not None
        first = wait_for(
            lambda: tracking.client().get_run(run_id).data.tags.get(HEARTBEAT_TAG),
            "the first heartbeat",
            30,
        )
        started = tracking.client().get_run(run_id).info.start_time / 1000
        assert float(first) >= round(started) - 1  # Unix seconds, written since the run began
    assert tracking.client().get_run(run_id).info.status == "FINISHED"


def test_a_reopened_run_is_never_judged_by_the_pid_of_its_last_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two seeds resumed side by side: the second start's sweep falls between the first's
    status change and its new pid, which once failed a live run."""
    client = tracking.client()
    exp = tracking.get_or_create_experiment(client, "liveness")
    last_attempt = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getppid()), PID_START_TAG: "0"}
    run_id = client.create_run(exp, tags=last_attempt).info.run_id
    client.set_terminated(run_id, "KILLED")
    update_run = client.update_run

    def update_then_a_neighbour_sweeps(*args: Any, **kwargs: Any) -> None:
        update_run(*args, **kwargs)
        tracking.mark_dead_runs(client, exp)

    monkeypatch.setattr(client, "update_run", update_then_a_neighbour_sweeps)
    with tracking.mlflow_run("liveness", run_id=run_id):
        assert client.get_run(run_id).info.status == "RUNNING"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "error" not in run.data.tags


def test_a_run_that_ended_before_its_process_exited_is_never_failed_from_an_old_snapshot() -> None:
    """A start's sweep searched while a neighbour still ran; the neighbour then ended its run
    and exited (CI's 16-client load test once lost a FINISHED run this way)."""
    client = tracking.client()
    exp = tracking.get_or_create_experiment(client, "liveness")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    owner = {HOST_TAG: socket.gethostname(), PID_TAG: gone, PID_START_TAG: "0"}
    run_id = client.create_run(exp, tags=owner).info.run_id
    snapshot = client.get_run(run_id)  # RUNNING, its process already gone
    client.set_terminated(run_id, "FINISHED")
    assert tracking.mark_if_dead(client, snapshot) is False
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "error" not in run.data.tags
    client.update_run(run_id, status="RUNNING")  # the same run, truly left RUNNING: failed
    assert tracking.mark_if_dead(client, snapshot) is True
    assert client.get_run(run_id).info.status == "FAILED"
