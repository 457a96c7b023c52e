"""Is the process that owns a run or a trial still alive? Judged on this host only.

A process is named by host, pid and its start time (from /proc), so that a pid the kernel has
reused for another process does not pass for the original.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import NamedTuple


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot; "?" where /proc cannot tell."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


class Identity(NamedTuple):
    """A process, as other processes name it: `host:pid:start` in a trial's or a claim's
    attribute (`str`, `parse`), three tags on an MLflow run (tracking.store.owner_tags)."""

    host: str
    pid: int
    start: str = "?"

    @classmethod
    def here(cls, pid: int | None = None) -> Identity:
        """This process (or another local one)."""
        pid = os.getpid() if pid is None else pid
        return cls(socket.gethostname(), pid, start_time(pid))

    @classmethod
    def parse(cls, text: str) -> Identity | None:
        """From `host:pid:start`; None where it names no process."""
        host, _, rest = text.partition(":")
        pid, _, start = rest.partition(":")
        try:
            return cls(host, int(pid), start or "?")
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    def alive(self) -> bool | None:
        """True or False for a process of this host; None for another host (no way to tell
        here: its heartbeat does, common.liveness)."""
        return alive(self.host, self.pid, self.start)


def identity(pid: int | None = None) -> str:
    """host:pid:start of this (or another local) process."""
    return str(Identity.here(pid))


def alive(host: str, pid: int, start: str = "?") -> bool | None:
    """True or False for a process of this host; None for another host (no way to tell here)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start == "?" or start == start_time(pid)


def identity_alive(tag: str | None) -> bool | None:
    """`alive` for an `identity` string; None when there is none to judge."""
    if not tag:
        return None
    who = Identity.parse(tag)
    return False if who is None else who.alive()


def cores() -> int:
    """The cores this process may run on (its affinity: a container's or a job's share, which
    os.cpu_count does not see)."""
    return len(os.sched_getaffinity(0))


def threads_each(processes: int) -> int:
    """Torch threads for each of `processes` trainings at once: the cores, shared (more would
    only take turns on them)."""
    return max(1, cores() // processes)
