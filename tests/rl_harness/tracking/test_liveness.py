"""A RUNNING run of another machine is judged by its heartbeat in the store."""

from __future__ import annotations

import time

from rl_harness.tracking import liveness
from rl_harness.tracking import runs as tracking
from rl_harness.tracking.store import HOST_TAG, PID_TAG
from tests.waiting import wait_for


def test_stale_only_after_the_missed_beats_and_never_without_a_heartbeat() -> None:
    now = 1_000_000.0
    fresh = {liveness.HEARTBEAT_TAG: str(now - 100), liveness.INTERVAL_TAG: "30"}
    old = {liveness.HEARTBEAT_TAG: str(now - 121), liveness.INTERVAL_TAG: "30"}
    assert liveness.stale(fresh, now) is None  # 100 s < 4 beats of 30 s
    assert liveness.stale(old, now) == "no heartbeat for 121 s (limit 120 s)"
    assert liveness.stale({}, now) is None  # older runs: nothing to judge by
    assert liveness.stale({liveness.HEARTBEAT_TAG: "soon"}, now) is None


def test_a_run_of_another_host_is_failed_once_its_heartbeat_stops() -> None:
    client = tracking.client()
    exp = tracking.get_or_create_experiment(client, "liveness")
    elsewhere = {HOST_TAG: "another-machine", PID_TAG: "4242", liveness.INTERVAL_TAG: "30"}
    beating = client.create_run(exp, tags={**elsewhere, liveness.HEARTBEAT_TAG: f"{time.time()}"})
    silent = client.create_run(exp, tags={**elsewhere, liveness.HEARTBEAT_TAG: "1000"})
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
            lambda: tracking.client().get_run(run_id).data.tags.get(liveness.HEARTBEAT_TAG),
            "the first heartbeat",
            30,
        )
        started = tracking.client().get_run(run_id).info.start_time / 1000
        assert float(first) >= round(started) - 1  # Unix seconds, written since the run began
    assert tracking.client().get_run(run_id).info.status == "FINISHED"
