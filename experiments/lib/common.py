"""What the experiment scripts share: composing a harness config as the CLI does, the
repository's paths, fair ordering of variants, and stopping on signals."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rl_harness.config.preflight import CONF_DIR, preflight
from rl_harness.errors import StopOnce

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results"


def compose_cfg(overrides: list[str]) -> DictConfig:
    """The config `python -m rl_harness <overrides>` would train with (same pre-flight checks,
    so `algo.<kwarg>=` may name any constructor argument)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=preflight(list(overrides)))


def rotated(names: list[str], rounds: int) -> list[tuple[int, str]]:
    """(round, name): each name once a round, the order rotated every round, so that no variant
    always runs first (warm caches) or last."""
    return [(r, name) for r in range(rounds)
            for name in names[r % len(names) :] + names[: r % len(names)]]  # fmt: skip


def stop_on_signals() -> dict[int, Any]:
    """`kill` or Ctrl-C stops a bench as it stops a run: the running cell's MLflow run ends
    KILLED, never left RUNNING, and a rerun under the same bench id continues. SIGINT too,
    since a shell starts a background job with it ignored. One stop (`StopOnce`): a second
    signal must not cut short the checkpoint and the KILLED status the first one writes; a
    cell in training stops at its next rollout's start, where its checkpoint resumes exactly.
    Returns the handlers it replaced."""
    handler = StopOnce()
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def pin_tracking_store() -> None:
    """Runs train in their own working directories: a relative SQLite store must not follow
    them, so it is made absolute (in MLFLOW_TRACKING_URI) before the first one."""
    from rl_harness.tracking.store import sqlite_path, tracking_uri

    path = sqlite_path(tracking_uri())
    if path is not None and not path.is_absolute():
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{path.resolve()}"


def hparams_file(algo: str, env: str) -> str | None:
    """The tuned-hyperparameter file the defaults list picks for this pair, if one ships."""
    path = CONF_DIR / "hparams" / f"{algo}_{env}.yaml"
    return path.name if path.exists() else None
