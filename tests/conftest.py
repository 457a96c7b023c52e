"""Shared fixtures: real configs composed from conf/, shrunk, writing to a temporary dir."""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from rl_harness.config.preflight import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]

# A test run started in the background by a non-interactive shell (`bash -c '... &'`) inherits
# SIGINT ignored, and so would every process a test starts: the Ctrl-C tests would then fail.
# Python's own handler here means the processes the tests start get the default one back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised MLflow SQLite store: creating its tables takes seconds, copying it none."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> Iterator[Path]:
    """Every test runs in its own directory with its own MLflow store (and no user config
    directory: the machine's own ~/.config/rl_harness would change what configs compose to)."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("RL_HARNESS_CONFIG_DIR", str(tmp_path / "user_conf"))
    yield tmp_path


def compose_config(overrides: list[str] | None = None, tiny: bool = True) -> DictConfig:
    """The real composed config; `tiny` turns off progress bars and long budgets."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides or [])
    if tiny:
        with open_dict(cfg):
            cfg.progress_bar = False
    return cfg


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    return compose_config


# Every skip for want of PostgreSQL says this first, so that the run's summary can count them.
NO_POSTGRES = "no PostgreSQL"


def skip_without_postgres(reason: str) -> NoReturn:
    """Skips the test for want of PostgreSQL, saying how to get it; fails it instead where
    RL_HARNESS_REQUIRE_PG says CI must run it. The run ends by counting these skips."""
    if os.environ.get("RL_HARNESS_REQUIRE_PG"):
        pytest.fail(
            f"{NO_POSTGRES}: {reason} (RL_HARNESS_REQUIRE_PG is set: CI must run this test)"
        )
    pytest.skip(f"{NO_POSTGRES}: {reason}")


def postgres_skips(reports: list[pytest.TestReport]) -> list[str]:
    """The closing lines about skips for want of PostgreSQL: none where there were none."""
    reasons = [str(r.longrepr[2]) if isinstance(r.longrepr, tuple) else "" for r in reports]
    reasons = [x.removeprefix("Skipped: ") for x in reasons if NO_POSTGRES in x]
    if not reasons:
        return []
    n = len(reasons)
    return [
        f"{n} PostgreSQL test{'s' * (n > 1)} SKIPPED (CI runs them; RL_HARNESS_REQUIRE_PG=1 "
        "fails instead of skipping):",
        *(f"  {count} x {reason}" for reason, count in Counter(reasons).most_common()),
    ]


@pytest.hookimpl(wrapper=True, tryfirst=True)  # around pytest's own: after its `-ra` list
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """Says loudly, after every other summary, when a local run skipped the PostgreSQL tests
    (`-ra` lists them among every other skip, where they are easy to miss)."""
    yield
    lines = postgres_skips(terminalreporter.stats.get("skipped", []))
    if lines:
        terminalreporter.write_sep("!", lines[0], yellow=True, bold=True)
        for line in lines[1:]:
            terminalreporter.write_line(line, yellow=True)


def postgres_or_skip() -> None:
    """Tests that start their own PostgreSQL (the local cluster) need its programs: skipped
    without them, failed instead where RL_HARNESS_REQUIRE_PG says CI must run them."""
    from rl_harness import cluster
    from rl_harness.errors import ConfigError

    try:
        cluster._pg_bin("initdb")
    except ConfigError as e:
        skip_without_postgres(str(e))


@pytest.fixture
def local_cluster() -> Iterator[Any]:
    """`make cluster-up` in a temporary directory, `make cluster-down PURGE=1` after."""
    import socket
    import subprocess
    import tempfile

    from rl_harness import cluster

    postgres_or_skip()
    # as root PostgreSQL runs as `postgres`, which must reach its data dir (pytest's are 0700)
    root = Path(tempfile.mkdtemp(prefix="rl-harness-cluster-"))
    root.chmod(0o755)
    env = {**os.environ, "RL_HARNESS_CLUSTER_DIR": str(root)}
    make = ["make", "-s", "-C", str(ROOT)]
    up = subprocess.run([*make, "cluster-up"], env=env, text=True, capture_output=True, timeout=300)
    assert up.returncode == 0, up.stderr[-2000:]
    started = cluster.load(root)
    assert started is not None and started.tracking_uri in up.stdout
    assert started.storage_url in up.stdout and "python -m rl_harness -m sweep=" in up.stdout
    yield started
    assert subprocess.run([*make, "cluster-down", "PURGE=1"], env=env, timeout=120).returncode == 0
    assert not root.exists()
    for port in (started.mlflow_port, started.pg_port):  # both services gone
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
