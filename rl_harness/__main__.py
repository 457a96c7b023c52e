"""`python -m rl_harness algo=ppo env=cartpole ...` — train, evaluate, save and record one run."""

from __future__ import annotations

import os
import signal
import sys

import hydra
from omegaconf import DictConfig

from rl_harness.config.preflight import CONF_DIR
from rl_harness.errors import ConfigError, HarnessError, Stopped, exit_with, raise_stopped, stopped


def fail(error: HarnessError) -> None:
    exit_with(error, "rl_harness")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | dict:
    trial = cfg.get("optuna") is not None  # launched by the Optuna sweeper (tuning.job.is_trial)
    try:
        if cfg.get("rerun") and cfg.rerun.id is not None:
            return _rerun(cfg, trial)
        if not trial:
            from rl_harness.training.launch import train_config

            return train_config(cfg)["mean_reward"]
        from rl_harness.training import train  # tuning imports optuna: only for sweep trials
        from rl_harness.tuning import job

        hooks = job.job_hooks(cfg)  # the trial's report/prune callback, tags
        return job.job_result(hooks, train.run(cfg, **hooks))  # the job's scores
    except HarnessError as e:
        if trial or os.environ.get("SUBMITIT_FOLDER"):
            raise  # the sweeper records the trial as failed; submitit the job, in its result
        fail(e)
    return float("nan")


def _rerun(cfg: DictConfig, trial: bool) -> float:
    """`rerun=<run id>`: the run trained again and compared (analysis.rerun)."""
    if trial:
        raise ConfigError("rerun= cannot go with a sweep: each trial is a run of its own")
    from hydra.core.hydra_config import HydraConfig

    from rl_harness.analysis import rerun

    return rerun.run(cfg, list(HydraConfig.get().overrides.task))["mean_reward"]


def stop_line(stop: Stopped) -> str:
    """What a stopped run left behind, in one line: the signal, the step, the checkpoint, the run
    and the command that resumes it."""
    parts = [f"rl_harness: stopped by {signal.Signals(stop.signum).name}"]
    if stop.step is not None:
        parts[0] += f" at step {stop.step:,}"
    parts.append(f"checkpoint {stop.checkpoint}" if stop.checkpoint else "no checkpoint written")
    if stop.run_id:
        parts += [
            f"run {stop.run_id} marked KILLED",
            f"resume: python -m rl_harness resume={stop.run_id}",
        ]
    return "; ".join(parts)


def entry() -> None:
    from rl_harness.config import commands

    # `kill` (SIGTERM) stops a run like Ctrl-C: final checkpoint, MLflow status KILLED.
    signal.signal(signal.SIGTERM, raise_stopped)
    with commands.reporting("rl_harness"):
        sys.argv[1:] = commands.checked_argv("config", sys.argv[1:])
    if _records_in_background(sys.argv[1:]):
        from rl_harness.tracking import background
        from rl_harness.training.record_tasks import HELPER

        background.prestart(HELPER)  # loads MLflow on another core while Hydra composes
    try:
        main()
    except KeyboardInterrupt as interrupt:  # Ctrl-C or kill: one line, no traceback
        stop = stopped(interrupt)
        print(stop_line(stop), file=sys.stderr)
        sys.exit(128 + stop.signum)


def _records_in_background(args: list[str]) -> bool:
    """A plain training run that will record through a helper (flags such as -m, --cfg,
    --help, and resume= and rerun=, which read MLflow here, do not)."""
    off = ("mlflow.enabled=false", "mlflow.background=false", "++mlflow.enabled=false")
    reads = ("resume=", "rerun")
    return not any(a.startswith("-") or a.lower() in off or a.startswith(reads) for a in args)


if __name__ == "__main__":
    entry()
