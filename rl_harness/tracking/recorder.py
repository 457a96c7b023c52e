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
    """What the training path records into: MLflow here, a helper process, or nothing.

    Implementations: `runs.MlflowRecorder`, `background.BackgroundRecorder`, `NullRecorder`.
    """

    @property
    def run_id(self) -> str | None:
        """The run's id in the tracking store; None where nothing is recorded."""
        ...

    def ready(self) -> None:
        """Block until the store is known reachable.

        Raises:
            ConfigError: The store cannot be reached (one line saying which and why).
        """

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the run's parameters (its flattened config)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record metrics at `step` (timesteps)."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the run."""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file into the run's artifacts (under `artifact_path`)."""

    def hand_over_dir(self, path: str | Path, artifact_path: str, keep: int = 0) -> None:
        """Upload a directory off the caller's path, then delete it (the caller gives it away).

        It is marked complete once all of it is there; the run ends only after the upload
        (tracking/uploads).

        Args:
            path: The directory to upload and delete.
            artifact_path: Where it goes in the run's artifacts.
            keep: > 0 keeps only the newest `keep` complete siblings in the store.
        """

    def writer(self) -> KVWriter | None:
        """An SB3 logger output format that records the logger's stream (None: not recorded)."""

    def run_task(self, name: str, *args: Any) -> None:
        """Run the named task of the recorder's table with this recorder and `args`."""


Task = Callable[..., None]  # task(recorder, *args)
Tasks = Mapping[str, Task]


def run_task(tasks: Tasks, recorder: Recorder, name: str, args: tuple[Any, ...]) -> None:
    """The one place a task is looked up: an unknown name is a bug in the caller.

    Args:
        tasks: The table the higher layer handed down.
        recorder: The recorder the task records with (its first argument).
        name: The task's name in `tasks`.
        args: The task's further arguments (plain values).

    Raises:
        KeyError: `name` is not in `tasks`.
    """
    if name not in tasks:
        raise KeyError(f"no recording task {name!r}; known: {', '.join(sorted(tasks))}")
    tasks[name](recorder, *args)


class NullRecorder:
    """Tracking off (`mlflow.enabled=false`): nothing reaches MLflow, tasks still run.

    A task that needs a run checks `recorder.run_id`.
    """

    def __init__(self, tasks: Tasks | None = None) -> None:
        """A recorder of nothing that still runs the tasks of `tasks`."""
        self.tasks: Tasks = tasks or {}

    @property
    def run_id(self) -> str | None:
        """None: no run."""
        return None

    def ready(self) -> None:
        """Ready at once: there is no store."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record nothing."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Record nothing."""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Record nothing."""

    def hand_over_dir(self, path: str | Path, artifact_path: str, keep: int = 0) -> None:
        """Delete the directory: it was given away, and there is nowhere to upload it."""
        shutil.rmtree(path, ignore_errors=True)

    def writer(self) -> KVWriter | None:
        """None: the logger's stream is not recorded."""
        return None

    def run_task(self, name: str, *args: Any) -> None:
        """Run the named task with this recorder (see `run_task`)."""
        run_task(self.tasks, self, name, args)
