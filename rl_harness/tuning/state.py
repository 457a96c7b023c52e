"""What one worker of a sweep knows once set up, and what it hands to and gets from its launcher.

`scheduler.Scheduler` fills a `SweepState`; asktell.py and report.py read it, so neither needs
the scheduler itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import optuna
from omegaconf import DictConfig

from rl_harness.tuning.locks import SweepLock
from rl_harness.tuning.objective import Aggregate
from rl_harness.tuning.space import Param
from rl_harness.tuning.validation import Settings


class Launched(NamedTuple):
    """What one launched job came back with: its return value (objective.scores), or the
    exception that failed it, in one line."""

    value: Any = None
    error: str | None = None


# (job overrides, job index) → (its return value, None) or (None, its error in one line)
Launch = Callable[[list[str], int], tuple[Any, str | None]]
Compose = Callable[[list[str]], DictConfig]  # overrides → one job's config


class SweepState:
    options: dict[str, Any]  # hydra.sweeper's
    config: DictConfig  # the sweep's primary config, with its `hydra` node
    compose: Compose
    study_name: str
    n_trials: int
    n_workers: int
    worker: int
    k: int  # tuning seeds per trial
    race: bool  # raced seeds (race.py): a trial's next seed only while it can win
    metric: str
    how: Aggregate
    checks: Settings
    params: list[Param]
    experiment: str
    tracking: bool
    sweep_dir: Path
    url: str
    lock: SweepLock
    sampling: Any
    storage: optuna.storages.BaseStorage
    study: optuna.Study
