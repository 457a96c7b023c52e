"""Every use of another library's private (or discouraged) API, in one place, each with why and
a test (tests/rl_harness/common/test_compat.py) that runs it against the installed library. The
dependencies named here have upper bounds in pyproject.toml, so a release that moves them fails
CI rather than a user's run.

    warm_mlflow_requirements   MLflow   mlflow.utils.requirements_utils (private module)
    attach_trial               Optuna   optuna.trial.Trial(study, trial_id) (discouraged)
    deterministic_action       SB3      BasePolicy._predict (protected)
    system_metrics_monitor     MLflow   mlflow.system_metrics.system_metrics_monitor (internal)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import torch


def warm_mlflow_requirements(requirements: list[str]) -> None:
    """MLflow maps installed packages to check a model's requirements the first time it logs one
    (~1 s); the background recorder does it early, while training runs. Private to MLflow: when
    it moves, logging the model is only slower, so callers may ignore the ImportError."""
    from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

    warn_dependency_requirement_mismatches(requirements)


def system_metrics_monitor(run_id: str, tracking_uri: str, resumed: bool) -> Any:
    """MLflow's own CPU / memory / disk / network (and GPU) sampler for a run, `system/*`
    metrics every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (10). Its public switch,
    `mlflow.start_run(log_system_metrics=True)`, belongs to the fluent API, which would make the
    run "active" process-wide; we open runs with MlflowClient, so we start the same monitor
    class that `start_run` starts. If it moves, runs go on without system metrics (caller
    catches) and the test fails."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    return SystemMetricsMonitor(run_id, resume_logging=resumed, tracking_uri=tracking_uri)


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
