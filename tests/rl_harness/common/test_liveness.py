"""One heartbeat per process: its actions, its one thread, and the one staleness rule."""

from __future__ import annotations

import threading

import pytest

from rl_harness.common import liveness
from tests.waiting import wait_for


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == liveness.THREAD_NAME]


def test_stale_only_after_the_missed_beats_and_never_without_a_heartbeat() -> None:
    now = 1_000_000.0
    assert liveness.stale(now - 100, now) is None  # 100 s < 4 beats of 30 s
    assert liveness.stale(str(now - 121), now) == "no heartbeat for 121 s (limit 120 s)"
    assert liveness.stale(now - 21, now, interval=5) == "no heartbeat for 21 s (limit 20 s)"
    assert liveness.stale(None, now) is None  # never beat: nothing to judge by
    assert liveness.stale("", now) is None
    assert liveness.stale("soon", now) is None


def test_every_action_beats_at_once_then_again_until_the_block_ends() -> None:
    calls = {"tag": 0, "optuna": 0, "claim": 0}
    seen = threading.Event()

    def action(name: str) -> liveness.Action:
        def beat() -> None:
            calls[name] += 1
            if all(n >= 2 for n in calls.values()):
                seen.set()

        return beat

    with liveness.heartbeat(*(action(n) for n in calls), interval=0.01):
        wait_for(seen.is_set, "every action called twice")
    after = dict(calls)
    with liveness.heartbeat(lambda: None, interval=0.01):  # the thread goes on for others...
        wait_for(lambda: heartbeat_threads(), "a heartbeat thread")
    assert calls == after  # ...but never calls an action whose block has ended


def test_a_failing_action_is_a_missed_beat_not_the_end_of_the_others() -> None:
    beats = {"broken": 0, "good": 0}

    def broken() -> None:
        beats["broken"] += 1
        raise ConnectionError("the store is down")

    def good() -> None:
        beats["good"] += 1

    with liveness.heartbeat(broken, good, interval=0.01):
        wait_for(lambda: beats["good"] >= 3, "the working action to beat on")
    assert beats["broken"] >= 2  # the failing action is tried again at each beat


def test_one_thread_however_many_heartbeats_are_open_and_none_after() -> None:
    """A sweep job: the worker beats for its trial and renews its claim, the job's MLflow run
    tags itself — three open heartbeats (nested, as they are), one thread."""
    wait_for(lambda: not heartbeat_threads(), "no heartbeat thread left by other tests")
    beaten: set[str] = set()
    with liveness.heartbeat(lambda: beaten.add("optuna"), lambda: beaten.add("claim")):
        with liveness.heartbeat(lambda: beaten.add("mlflow")):
            wait_for(lambda: beaten == {"optuna", "claim", "mlflow"}, "all three actions")
            assert len(heartbeat_threads()) == 1
        assert len(heartbeat_threads()) == 1
    wait_for(lambda: not heartbeat_threads(), "the thread to end with the last heartbeat")


def test_no_action_no_thread() -> None:
    wait_for(lambda: not heartbeat_threads(), "no heartbeat thread left by other tests")
    with liveness.heartbeat():
        assert not heartbeat_threads()


@pytest.mark.parametrize("interval", [0.01])
def test_leaving_waits_for_a_beat_under_way(interval: float) -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.append(True)

    releaser = threading.Thread(target=lambda: (started.wait(10), release.set()))
    releaser.start()
    with liveness.heartbeat(slow, interval=interval):
        started.wait(10)
    assert finished  # the beat under way ended before the block did
    releaser.join()
