"""Where runs are recorded, and the tags that find them again — without importing MLflow.

Code that must stay fast before training starts (the command line's checks, `resume=` lookups,
the training process when a helper records for it) reads these and never loads MLflow.
"""

from __future__ import annotations

import os
import socket
import urllib.parse

from rl_harness.common import processes
from rl_harness.errors import ConfigError

DEFAULT_URI = "sqlite:///mlflow.db"
OUT_DIR_TAG = "rl_harness.output_dir"  # where a run's files are (resume finds them by it)
PID_TAG = "rl_harness.pid"  # the training process: a RUNNING run whose process is gone is dead
HOST_TAG = "rl_harness.host"
PID_START_TAG = "rl_harness.pid_start"  # with the pid: a reused pid is not the run's process


def owner_tags() -> dict[str, str]:
    """Host, pid and start time of this process, the one whose death ends its run. Tagged by the
    training process itself, also where a helper records for it: the helper's own start time
    beside the trainer's pid made every other start on the host judge a live run dead."""
    pid = os.getpid()
    return {
        PID_TAG: str(pid),
        HOST_TAG: socket.gethostname(),
        PID_START_TAG: processes.start_time(pid),
    }


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


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
