"""The trial's side, inside the job the sweeper launched: rebuild the trial from the `optuna.*`
overrides, report each periodic evaluation to it (and stop when the pruner says so), and put
the run id and timesteps spent on it.

    +optuna.study/storage/trial ──job_hooks──▶ {run_tags, after_eval: [TrialReport]} ──▶ train.run
    train.run's result ──record_result──▶ trial user attrs (mlflow_run_id, timesteps)
"""

from __future__ import annotations

import math
from typing import Any, cast

import optuna
from omegaconf import DictConfig
from stable_baselines3.common.callbacks import BaseCallback

from rl_harness.common import compat
from rl_harness.tuning.search import make_pruner
from rl_harness.tuning.storage import open_storage, trial_id


class TrialReport(BaseCallback):
    """After each evaluation: report the mean return to the trial; stop if it should be pruned.

    A non-finite mean return stops training too; the sweeper records the trial as failed.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.pruned_at: int | None = None
        self.non_finite_at: int | None = None

    def _on_step(self) -> bool:
        value = float(cast(Any, self.parent).last_mean_reward)  # EvalCallback-like: its parent
        step = int(self.num_timesteps)
        if not math.isfinite(value):
            self.non_finite_at = step
            self.trial.set_user_attr("error", f"evaluation returned {value} at step {step}")
            return False
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned_at = step
            self.trial.set_user_attr("pruned_at", step)
            return False
        return True


def is_trial(cfg: DictConfig) -> bool:
    """Whether this job is a trial launched by the Optuna sweeper."""
    return cfg.get("optuna") is not None


def job_hooks(cfg: DictConfig) -> dict[str, Any]:
    """`train.run` keywords for a sweep trial (tags, report callback); {} for a normal run."""
    if not is_trial(cfg):
        return {}
    from hydra.core.hydra_config import HydraConfig

    pruner = HydraConfig.get().sweeper.get("pruner") if HydraConfig.initialized() else None
    storage = open_storage(str(cfg.optuna.storage))
    study = optuna.load_study(
        study_name=cfg.optuna.study, storage=storage, pruner=make_pruner(pruner)
    )
    trial = compat.attach_trial(study, trial_id(storage, study.study_name, int(cfg.optuna.trial)))
    tags = {"optuna.study": study.study_name, "optuna.trial": str(trial.number)}
    if parent := study.user_attrs.get("mlflow_parent_run_id"):
        tags["mlflow.parentRunId"] = parent
    return {"run_tags": tags, "after_eval": [TrialReport(trial)], "run_name": trial_name(trial)}


def trial_name(trial: optuna.Trial | optuna.trial.FrozenTrial) -> str:
    """A trial's MLflow run name; the study is in its parent's name (`sweep <study>`)."""
    return f"trial-{trial.number}"


def record_result(hooks: dict[str, Any], result: dict[str, Any]) -> None:
    """Put the run id and timesteps spent on the trial, for the sweeper and its summary."""
    for cb in hooks.get("after_eval", []):
        if isinstance(cb, TrialReport):
            if result.get("run_id"):
                cb.trial.set_user_attr("mlflow_run_id", result["run_id"])
            cb.trial.set_user_attr("timesteps", int(result["timesteps"]))
