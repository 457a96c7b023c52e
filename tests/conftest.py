"""Shared fixtures: real configs composed from conf/, shrunk, writing to a temporary dir."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from rl_harness.config.preflight import CONF_DIR

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
    """Every test runs in its own directory with its own MLflow store."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
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
