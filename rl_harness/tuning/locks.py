"""The sweep's lock: ask-and-count, claims and failing orphans are atomic among a study's workers.

A file lock (`<sweep dir>/.ask.lock`) among this machine's workers and, where the study lives in
PostgreSQL, an advisory lock among every machine's (`storage.study_lock`), taken in that order.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from rl_harness.tuning.storage import study_lock


class SweepLock:
    """Reentrant within a process: a held lock is not taken again."""

    def __init__(self, path: Path, url: str, study: str) -> None:
        self.path, self.url, self.study = path, url, study
        self._holding = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._holding:
            yield
            return
        with open(self.path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                with study_lock(self.url, self.study):
                    self._holding = True
                    try:
                        yield
                    finally:
                        self._holding = False
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
