"""What the training path records into, whoever records it.

    Recorder (Protocol)
    ├── runs.MlflowRecorder        this process writes to MLflow
    ├── background.BackgroundRecorder  messages to a helper process, which writes to MLflow
    └── NullRecorder               tracking off: files only

Work that belongs to a higher layer but must happen where the run is recorded (packaging the
policy model, drawing the learning curve) is a *task*: a function in a table that the higher
layer owns and hands to the recorder (`Tasks`). `run_task(name, *args)` runs it beside the
recorder — in this process, or in the helper process, which gets the same table. Task
arguments are plain values (paths as strings, configs as containers) so that they can travel.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the helper process must not import SB3 (and torch) to record
    from stable_baselines3.common.logger import KVWriter


class Recorder(Protocol):
    @property
    def run_id(self) -> str | None: ...

    def ready(self) -> None:
        """Block until the store is known reachable (one-line ConfigError if it is not)."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...

    def hand_over_dir(self, path: str | Path, artifact_path: str, keep: int = 0) -> None:
        """Upload a directory off the caller's path, marked complete once all of it is there,
        then delete it (the caller gives it away); `keep` > 0 keeps only the newest `keep`
        complete siblings in the store. The run ends only after the upload (tracking/uploads)."""

    def writer(self) -> KVWriter | None:
        """An SB3 logger output format that records the logger's stream (None: not recorded)."""

    def run_task(self, name: str, *args: Any) -> None:
        """Run the named task of the recorder's table with this recorder and `args`."""


Task = Callable[..., None]  # task(recorder, *args)
Tasks = Mapping[str, Task]


def run_task(tasks: Tasks, recorder: Recorder, name: str, args: tuple[Any, ...]) -> None:
    """The one place a task is looked up: an unknown name is a bug in the caller."""
    if name not in tasks:
        raise KeyError(f"no recording task {name!r}; known: {', '.join(sorted(tasks))}")
    tasks[name](recorder, *args)


class NullRecorder:
    """Tracking off (`mlflow.enabled=false`): nothing reaches MLflow, tasks still run (a task
    that needs a run checks `recorder.run_id`)."""

    def __init__(self, tasks: Tasks | None = None) -> None:
        self.tasks: Tasks = tasks or {}

    @property
    def run_id(self) -> str | None:
        return None

    def ready(self) -> None: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...

    def hand_over_dir(self, path: str | Path, artifact_path: str, keep: int = 0) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def writer(self) -> KVWriter | None:
        return None

    def run_task(self, name: str, *args: Any) -> None:
        run_task(self.tasks, self, name, args)
