"""Every use of another library's private (or discouraged) API, in one place, each with why and
a test (tests/rl_harness/common/test_compat.py) that runs it against the installed library. The
dependencies named here have upper bounds in pyproject.toml, so a release that moves them fails
CI rather than a user's run.

    pinned_requirements        MLflow   mlflow.utils.environment's requirements check (private)
    attach_trial               Optuna   optuna.trial.Trial(study, trial_id) (discouraged)
    deterministic_action       SB3      BasePolicy._predict (protected)
    system_metrics_monitor     MLflow   mlflow.system_metrics.system_metrics_monitor (internal)
    finish_system_metrics      MLflow   the same monitor's sampling methods and step count
    delete_artifacts           MLflow   ArtifactRepository.delete_artifacts (no client method)

One module is the exception, since reading and writing private state is its whole job:
training/exact_state.py (exact resume) takes the algorithms' protected attributes
(`_last_obs`, `_episode_num`, ...), a space's `_np_random`, the logger's pending values and each
vec env wrapper's attributes; tests/experiments/checks/test_resume_exactness.py runs it against the
installed SB3, sb3-contrib and gymnasium.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import torch


@contextlib.contextmanager
def pinned_requirements() -> Iterator[None]:
    """Log a model without MLflow checking its requirements against the environment.

    Our requirements are the installed versions, read from the same environment
    (`model_logging.pip_requirements`), so the check cannot find a mismatch; it costs ~1 s of
    CPU per process (it maps every installed package's files to modules) and ~0.1 s per model.
    MLflow has no switch for it (MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK covers another check), so
    the name `_process_pip_requirements` calls is replaced for the duration. If it moves, the
    check simply runs again (slower, same model) and the test fails.
    """
    from mlflow.utils import environment

    name = "warn_dependency_requirement_mismatches"
    original = getattr(environment, name, None)
    setattr(environment, name, lambda requirements: None)
    try:
        yield
    finally:
        if original is None:
            delattr(environment, name)
        else:
            setattr(environment, name, original)


def delete_artifacts(artifact_uri: str, path: str) -> None:
    """Delete `path` under a run's artifact root. MlflowClient has no delete; the artifact
    repository of the run's URI does (local files, and `mlflow-artifacts:` over HTTP, which a
    server started with --serve-artifacts answers). If it moves, old checkpoints stay in the
    store (more disk, nothing lost) and the test fails."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    get_artifact_repository(artifact_uri).delete_artifacts(path)


def system_metrics_monitor(run_id: str, tracking_uri: str, resumed: bool) -> Any:
    """MLflow's own CPU / memory / disk / network (and GPU) sampler for a run, `system/*`
    metrics every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (10). Its public switch,
    `mlflow.start_run(log_system_metrics=True)`, belongs to the fluent API, which would make the
    run "active" process-wide; we open runs with MlflowClient, so we start the same monitor
    class that `start_run` starts. If it moves, runs go on without system metrics (caller
    catches) and the test fails."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    return SystemMetricsMonitor(run_id, resume_logging=resumed, tracking_uri=tracking_uri)


def finish_system_metrics(monitor: Any) -> None:
    """Stop the monitor, logging one sample first if it has logged none: MLflow's loop drops
    what it sampled when it is stopped within its first interval (10 s), so a short run would
    show no system metrics at all. If these methods move, the run's end reports it (caller
    catches) and the test fails."""
    if monitor._logging_step == 0:
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
    monitor.finish()


def attach_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """A handle on a trial that another process asked for, so a sweep job can `report` to it and
    ask `should_prune`. Optuna's docs call direct use of the `Trial` constructor "not
    recommended": its public ways to get a `Trial` (`study.ask`, `study.optimize`) only make new
    trials. If the constructor changes, every sweep trial fails at its start (the test catches
    that); the replacement would be the sweeper reporting on the job's behalf."""
    import optuna

    return optuna.trial.Trial(study, trial_id)


def deterministic_action(policy: Any, observation: torch.Tensor) -> torch.Tensor:
    """The policy's deterministic action for a batch of (preprocessed) observations, as a graph
    ONNX can trace. SB3's own docs export through this protected method: `policy.predict` works
    on numpy arrays and leaves the graph. If it is renamed, `export` fails and so does the
    parity test (tests/rl_harness/deploy/test_export.py)."""
    return policy._predict(observation, deterministic=True)
