"""Is a process still alive, wherever it runs? Judged by its heartbeat, with one rule.

On a process's own host the process table answers (`processes.Identity.alive`). From any other
machine only a shared service can: the process beats there every `INTERVAL_S` seconds, and a
process whose last beat is older than `STALE_AFTER` intervals died with its machine (or lost
its network). What a beat is depends on the service — an action:

    tracking.runs      tag the MLflow run (`rl_harness.heartbeat`, Unix seconds)
    tuning.storage     Optuna's `record_heartbeat` for the trial (its RDB storage applies this
                       rule itself: `grace_period` = STALE_AFTER × INTERVAL_S)
    tuning.units       renew the claim on a seed or a validation job (`<identity>@<Unix seconds>`)

`heartbeat(*actions)` calls its actions while it is open, on ONE thread per process
(`rl-harness-heartbeat`) whatever the number of open heartbeats: a sweep job that beats for
its trial, renews its claim and tags its run runs one thread, not three.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

INTERVAL_S = 30.0
STALE_AFTER = 4  # intervals: a busy service or a long pause is not a death
THREAD_NAME = "rl-harness-heartbeat"
JOIN_S = 5.0  # how long leaving a heartbeat waits for a beat of its own still under way

Action = Callable[[], object]


def stale(
    beat: float | str | None, now: float | None = None, interval: float = INTERVAL_S
) -> str | None:
    """Why a process whose last beat was at `beat` (Unix seconds) is dead — "no heartbeat for
    N s (limit M s)" — or None while its beat is fresh, or where there is none to judge by
    (never beat, or not a number). `interval`: the beating process's own."""
    if beat is None or beat == "":
        return None
    try:
        age = (time.time() if now is None else now) - float(beat)
    except ValueError:
        return None
    limit = STALE_AFTER * float(interval)
    return f"no heartbeat for {age:.0f} s (limit {limit:.0f} s)" if age > limit else None


@dataclass(eq=False)
class _Beat:
    action: Action
    interval: float
    due: float  # time.monotonic() of its next call


_cond = threading.Condition()
_beats: list[_Beat] = []
_running: list[_Beat] = []  # being called now, outside the lock
_thread: threading.Thread | None = None


@contextlib.contextmanager
def heartbeat(*actions: Action, interval: float = INTERVAL_S) -> Iterator[None]:
    """Call every action at once and then every `interval` seconds until the block ends; a
    failing call is a missed beat (the next may get through). On leaving, no call of these
    actions is under way or to come (a hung one is waited for JOIN_S seconds)."""
    global _thread
    own = [_Beat(a, interval, time.monotonic()) for a in actions]
    if not own:
        yield
        return
    with _cond:
        _beats.extend(own)
        if _thread is None:
            _thread = threading.Thread(target=_run, name=THREAD_NAME, daemon=True)
            _thread.start()
        _cond.notify_all()
    try:
        yield
    finally:
        with _cond:
            _beats[:] = [b for b in _beats if b not in own]
            _cond.notify_all()
            _cond.wait_for(lambda: not any(b in own for b in _running), timeout=JOIN_S)


def _run() -> None:
    """The process's heartbeat thread: ends once no heartbeat is open."""
    global _thread
    with _cond:
        while _beats:
            now = time.monotonic()
            due = [b for b in _beats if b.due <= now]
            if not due:
                _cond.wait(min(b.due for b in _beats) - now)
                continue
            for b in due:
                b.due = now + b.interval
            _running[:] = due
            _cond.release()
            try:
                for b in due:
                    with contextlib.suppress(Exception):  # a missed beat
                        b.action()
            finally:
                _cond.acquire()
                _running.clear()
                _cond.notify_all()
        _thread = None


def _after_fork() -> None:
    """A forked child has none of its parent's threads: it starts its own when it beats."""
    global _cond, _thread
    _cond, _thread = threading.Condition(), None
    _beats.clear()
    _running.clear()


os.register_at_fork(after_in_child=_after_fork)
