"""The job's side, inside a job the sweeper launched: rebuild the trial from the `optuna.*`
overrides, report each periodic evaluation to it (and stop when the pruner says so), and hand
back the run's scores.

    +optuna.study/storage/job, +optuna.trial[, +optuna.seed_index] ──job_hooks──▶
        {run_tags, run_name, after_eval: [TrialReport]} ──▶ train.run
    train.run's result ──job_result──▶ objective.scores (the job's return value)

Validation jobs (`+optuna.stage=retest|incumbent`) report to no trial: they are scored only.

With k seeds per trial, seed i's evaluation at timestep t is reported at step i·span + t, span
the largest n_timesteps the search can give (`+optuna.seed_span`; n_timesteps where unsearched):
the pruner compares each seed with the same seed of other trials at the same timestep, and a
pruned seed prunes the trial (its other seeds stop at their next evaluation). With raced seeds
(`hydra.sweeper.race`, race.py) only a trial's first seed asks the pruner: a later seed runs
because the trial's seeds so far beat the race's bar, and the finished trials that reached its
steps are the race's survivors, the best ones, so their median there would stop the best trials
(seen on CartPole: a trial at 482, 479 stopped on its third seed, its best value below the
median of the complete trials' 500s); the race judges it once the seed ends. Every seed still
reports its evaluations.
"""

from __future__ import annotations

import math
from typing import Any, cast

import optuna
from omegaconf import DictConfig
from optuna.trial import TrialState
from stable_baselines3.common.callbacks import BaseCallback

from rl_harness.common import compat
from rl_harness.tuning import objective
from rl_harness.tuning.search import make_pruner
from rl_harness.tuning.storage import open_storage, trial_id


class TrialReport(BaseCallback):
    """After each evaluation: report the mean return to the trial; stop if it should be pruned,
    or if another of its seeds ended it (pruned or failed).

    A non-finite mean return stops training too; the sweeper records the trial as failed.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        offset: int = 0,
        shared: tuple[optuna.storages.BaseStorage, int] | None = None,
        prunes: bool = True,
    ) -> None:
        """`shared`: (storage, trial id) where the trial has other seeds, which may end it;
        `prunes`: whether the pruner may stop this seed (not a raced trial's later seed)."""
        super().__init__()
        self.trial, self.offset, self.shared, self.prunes = trial, offset, shared, prunes
        self.pruned_at: int | None = None
        self.non_finite_at: int | None = None

    def _on_step(self) -> bool:
        value = float(cast(Any, self.parent).last_mean_reward)  # EvalCallback-like: its parent
        step = int(self.num_timesteps)
        if not math.isfinite(value):
            self.non_finite_at = step
            self.trial.set_user_attr("error", f"evaluation returned {value} at step {step}")
            return False
        if self.shared and self._ended():
            return False
        if self.offset + step not in self._reported():
            self.trial.report(value, self.offset + step)
        if self.prunes and self.trial.should_prune():
            self.pruned_at = step
            self.trial.set_user_attr("pruned_at", step)
            return False
        return True

    def _ended(self) -> bool:
        assert self.shared is not None
        storage, tid = self.shared
        return storage.get_trial(tid).state != TrialState.RUNNING

    def _reported(self) -> dict[int, float]:
        """Steps already reported (a seed run again after a stop reports its steps again)."""
        if not self.shared:
            return {}
        storage, tid = self.shared
        return storage.get_trial(tid).intermediate_values


def is_trial(cfg: DictConfig) -> bool:
    """Whether this job was launched by the Optuna sweeper (a trial's seed or a validation)."""
    return cfg.get("optuna") is not None


def job_hooks(cfg: DictConfig) -> dict[str, Any]:
    """`train.run` keywords for a sweep job (tags, name, report callback); {} for a normal run."""
    if not is_trial(cfg):
        return {}
    storage = open_storage(str(cfg.optuna.storage))
    stage = cfg.optuna.get("stage")
    if stage:
        return _validation_hooks(cfg, storage, str(stage))
    from hydra.core.hydra_config import HydraConfig

    sweeper = HydraConfig.get().sweeper if HydraConfig.initialized() else {}
    pruner = sweeper.get("pruner")
    study = optuna.load_study(
        study_name=cfg.optuna.study, storage=storage, pruner=make_pruner(pruner)
    )
    tid = trial_id(storage, study.study_name, int(cfg.optuna.trial))
    trial = compat.attach_trial(study, tid)
    tags = {"optuna.study": study.study_name, "optuna.trial": str(trial.number)}
    index = cfg.optuna.get("seed_index")
    if index is not None:
        tags["optuna.seed"] = str(cfg.seed)
    if (retry_of := trial.user_attrs.get("retry_of")) is not None:
        tags["optuna.retry_of"] = str(retry_of)
    if parent := study.user_attrs.get("mlflow_parent_run_id"):
        tags["mlflow.parentRunId"] = parent
    shared = (storage, tid) if index is not None else None
    span = cfg.optuna.get("seed_span", cfg.n_timesteps)  # the largest budget the search gives
    raced_later_seed = bool(index) and bool(sweeper.get("race", True))  # module docstring
    report = TrialReport(trial, int(index or 0) * int(span), shared, not raced_later_seed)
    return {"run_tags": _renamed(cfg, tags), "after_eval": [report], "run_name": job_name(cfg)}


def _validation_hooks(cfg: DictConfig, storage: Any, stage: str) -> dict[str, Any]:
    study = optuna.load_study(study_name=cfg.optuna.study, storage=storage)
    tags = {"optuna.study": study.study_name, "optuna.stage": stage, "optuna.seed": str(cfg.seed)}
    if cfg.optuna.get("trial") is not None:
        tags["optuna.retest_of"] = str(cfg.optuna.trial)
    if parent := study.user_attrs.get("mlflow_parent_run_id"):
        tags["mlflow.parentRunId"] = parent
    return {"run_tags": _renamed(cfg, tags), "run_name": job_name(cfg)}


def _renamed(cfg: DictConfig, tags: dict[str, str]) -> dict[str, str]:
    """A job that continues an earlier attempt's run (`resume=`, tuning/retries.py) gives the
    run its own name: a retried trial's run is named for the trial that finishes it."""
    return {**tags, "mlflow.runName": job_name(cfg)} if cfg.get("resume") else tags


def job_name(cfg: DictConfig) -> str:
    """The job's MLflow run name: `trial-<n>`, `trial-<n>-s<seed>`, `retest-t<n>-s<seed>`,
    `incumbent-s<seed>` (the study is in its parent's name, `sweep <study>`)."""
    return str(cfg.optuna.get("job") or f"trial_{cfg.optuna.trial}").replace("_", "-")


def trial_name(trial: optuna.Trial | optuna.trial.FrozenTrial) -> str:
    """A k = 1 trial's MLflow run name."""
    return f"trial-{trial.number}"


def job_result(hooks: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The job's return value (objective.scores); a trial's run id and timesteps also go on
    the trial, for the sweeper and its summary."""
    for cb in hooks.get("after_eval", []):
        if isinstance(cb, TrialReport) and not cb.shared:
            if result.get("run_id"):
                cb.trial.set_user_attr("mlflow_run_id", result["run_id"])
            cb.trial.set_user_attr("timesteps", int(result["timesteps"]))
    return objective.scores(result)
