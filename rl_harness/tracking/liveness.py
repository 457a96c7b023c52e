"""Is a RUNNING run's process still alive, wherever it runs?

On the run's own host the process table answers (`common.processes`). From any other machine,
only the store can: the process that records a run tags it with a heartbeat (`HEARTBEAT_TAG`,
Unix seconds) every `INTERVAL_S`, and a run whose heartbeat is older than `STALE_AFTER`
intervals died with its machine (or lost its network) and is marked FAILED by whoever looks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

HEARTBEAT_TAG = "rl_harness.heartbeat"
INTERVAL_S = 30.0
STALE_AFTER = 4  # intervals: a busy store or a long pause is not a death


class Heartbeat:
    """A daemon thread that tags the run every `interval` seconds until stopped."""

    def __init__(self, client: Any, run_id: str, interval: float = INTERVAL_S) -> None:
        self.client, self.run_id, self.interval = client, run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="rl-harness-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _beat(self) -> None:
        while True:
            try:
                self.client.set_tag(self.run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
            except Exception:  # noqa: BLE001 - a missed beat; the next one may get through
                pass
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def stale(tags: Mapping[str, str], now: float | None = None) -> str | None:
    """Why a RUNNING run of another host is dead ("no heartbeat for N s"), or None while its
    heartbeat is fresh, or where it has none (started before heartbeats: nothing to judge by)."""
    beat = tags.get(HEARTBEAT_TAG)
    if not beat:
        return None
    try:
        age = (time.time() if now is None else now) - float(beat)
    except ValueError:
        return None
    limit = STALE_AFTER * float(tags.get(INTERVAL_TAG, INTERVAL_S))
    return f"no heartbeat for {age:.0f} s (limit {limit:.0f} s)" if age > limit else None


INTERVAL_TAG = "rl_harness.heartbeat_interval"  # the writer's interval, so readers agree
