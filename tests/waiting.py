"""Waiting for a condition with a deadline, the one way tests wait (never a fixed sleep).

A fixed sleep is either too short on a loaded machine (the test fails) or too long on a quiet
one (the suite crawls); polling a condition is neither. The deadline only bounds a hang: it is
generous, and reaching it fails the test with what was awaited.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")
POLL_S = 0.05  # between two looks at the condition


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60) -> T:
    """The first truthy value of `condition()`, polled until `timeout` s have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s for {what}")
        time.sleep(POLL_S)


def free_port() -> int:
    """A loopback port free now, for a server a test starts: bound to port 0 and released (a
    server that still loses it to another process exits, and the test sees that)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(port: int, path: str = "/") -> bool:
    """The server on this loopback port answers `path` with 200: the server's own readiness
    (its health or ping endpoint), not merely some process accepting connections there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status == 200
    except OSError:  # refused, reset, timed out, or an HTTP error status
        return False


def port_closed(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing accepts connections on the port: any refusal, reset or timeout means closed."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:  # ConnectionRefusedError, ConnectionResetError, TimeoutError, ...
        return True


def group_gone(pgid: int) -> bool:
    """Every process of the group has exited and been reaped (a zombie still counts)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
