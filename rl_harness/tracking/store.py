"""Where runs are recorded, and the tags that find them again — without importing MLflow.

Code that must stay fast before training starts (the command line's checks, `resume=` lookups,
the training process when a helper records for it) reads these and never loads MLflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

from rl_harness.common import processes
from rl_harness.errors import ConfigError

DEFAULT_URI = "sqlite:///mlflow.db"
OUT_DIR_TAG = "rl_harness.output_dir"  # where a run's files are (resume finds them by it)
PID_TAG = "rl_harness.pid"  # the training process: a RUNNING run whose process is gone is dead
HOST_TAG = "rl_harness.host"
PID_START_TAG = "rl_harness.pid_start"  # with the pid: a reused pid is not the run's process
# Judged from other hosts (common.liveness): the run's last beat (Unix seconds), set every
# interval by the process that records it, and that interval, so readers agree.
HEARTBEAT_TAG = "rl_harness.heartbeat"
INTERVAL_TAG = "rl_harness.heartbeat_interval"


def owner_tags() -> dict[str, str]:
    """Host, pid and start time of this process, the one whose death ends its run. Tagged by the
    training process itself, also where a helper records for it: the helper's own start time
    beside the trainer's pid made every other start on the host judge a live run dead."""
    me = processes.Identity.here()
    return {PID_TAG: str(me.pid), HOST_TAG: me.host, PID_START_TAG: me.start}


def owner_of(tags: Mapping[str, str]) -> processes.Identity:
    """The process a run's owner tags name (this process where they name none)."""
    here = processes.Identity.here()
    pid = int(tags.get(PID_TAG, here.pid))
    return processes.Identity(tags.get(HOST_TAG, here.host), pid, tags.get(PID_START_TAG, "?"))


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def sqlite_path(uri: str) -> Path | None:
    """The file a `sqlite:///` URI names (relative to the working directory with three slashes,
    absolute with four); None for any other store."""
    if not uri.startswith("sqlite:///") or uri.removeprefix("sqlite:///") in ("", ":memory:"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


@contextlib.contextmanager
def first_open_lock(uri: str) -> Iterator[None]:
    """One process at a time opens a SQLite store for the first time. MLflow creates or migrates
    its tables then, and two processes doing it at once (two runs started together in a fresh
    folder) leave it half-migrated and unusable for every later run ("table _alembic_tmp_tags
    already exists"). The lock is on the folder that holds the file, so it leaves no file."""
    path = sqlite_path(uri)
    folder = path.resolve().parent if path is not None else None
    if folder is None or not folder.is_dir():
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def unreachable(uri: str, reason: str) -> ConfigError:
    return ConfigError(
        f"MLflow tracking store {uri} is unreachable ({reason}); set "
        "MLFLOW_TRACKING_URI to a reachable server or sqlite:///path/to/mlflow.db"
    )


def check_server_reachable(uri: str | None = None) -> None:
    """A tracking server that takes no connection fails here, in milliseconds, before torch and
    MLflow load (`runs.check_store` then checks the store itself)."""
    uri = uri or tracking_uri()
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=3).close()
    except OSError as e:
        raise unreachable(uri, str(e) or type(e).__name__) from None
