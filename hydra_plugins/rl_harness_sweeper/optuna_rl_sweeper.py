"""`hydra/sweeper=optuna_rl`: Optuna asks, Hydra's launcher runs each trial as a normal job.

    python -m rl_harness -m sweep=ppo env=cartpole hydra.sweeper.n_trials=30

One sweep loop per worker process, all on one Optuna storage: ask (under a lock, so n_trials is
the study's total), launch the job with the trial's overrides plus `+optuna.study/storage/trial`,
tell COMPLETE / PRUNED / FAIL from what the job returned and recorded on the trial. The first
worker (the lead, `worker=0`) also fails the trials of dead processes (they are run again) and
opens the study's MLflow parent run; at the end it writes the best hyperparameters and prints the
summary. Each machine's first process starts `n_workers - 1` more: the same command with
`hydra.sweeper.worker=<k> hydra.sweeper.spawned=true`. The search-space and Optuna logic is in
rl_harness.tuning (rl_harness.tuning.sweep names it all).
"""

# No `from __future__ import annotations`: Hydra loads plugins outside sys.modules, where
# dataclasses cannot resolve string annotations.
import contextlib
import fcntl
import io
import math
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict


@dataclass
class OptunaRLSweeperConf:
    _target_: str = "hydra_plugins.rl_harness_sweeper.optuna_rl_sweeper.OptunaRLSweeper"
    # None: "<sweep>-<env>", filled in at setup (a `${hydra:...}` default cannot resolve when
    # Hydra instantiates the sweeper, before any job config exists)
    study_name: str | None = None
    storage: str | None = None  # None: a journal file in the sweep dir; or an RDB URL
    direction: str = "maximize"
    n_trials: int = 20  # the study's total, counted across resumes and workers
    n_workers: int = 1  # processes on this machine
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    space: Any = None  # see conf/sweep/ppo.yaml; `space=null` before `space={...}` replaces it
    retry_interrupted: bool = True  # run again a trial whose process died or was stopped
    heartbeat: int = 30  # seconds, RDB storages: trials of a lost machine fail after 4 beats
    worker: int = 0  # 0: the lead, which sets up and reports; other machines use 10, 20, ...
    spawned: bool = False  # internal: started by another worker of this machine


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna_rl", node=OptunaRLSweeperConf, provider="rl_harness"
)
OWN_KEYS = (
    "hydra.sweeper.worker=",
    "hydra.sweeper.spawned=",
    "hydra.sweeper.storage=",
    "hydra.sweep.dir=",
    "hydra.mode=",
)


class OptunaRLSweeper(Sweeper):
    # Set by setup(), which Hydra calls before sweep(); the base class declares them Optional.
    hydra_context: HydraContext
    config: DictConfig
    launcher: Launcher

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.n_trials, self.n_workers = int(options["n_trials"]), int(options["n_workers"])
        self.worker, self.spawned = int(options["worker"]), bool(options["spawned"])

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.config = hydra_context, config
        if self.options.get("study_name") is None:
            choices = config.hydra.runtime.choices
            self.options["study_name"] = f"{choices.get('sweep')}-{choices.get('env')}"
            with open_dict(config):
                config.hydra.sweeper.study_name = self.options["study_name"]
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from rl_harness.errors import HarnessError, exit_with

        try:
            return self._sweep(list(arguments))
        except HarnessError as e:
            exit_with(e, "rl_harness")
        except KeyboardInterrupt:
            print(
                "sweep stopped (Ctrl-C); the study is intact: run the same command to resume",
                file=sys.stderr,
            )
            sys.exit(130)

    # ------------------------------------------------------------ set up

    def _sweep(self, arguments: list[str]) -> Any:
        """check the sweep → open the study → (lead) fail orphans, open the parent run →
        run the workers → (lead) report."""
        from rl_harness.config.names import experiment_name
        from rl_harness.tuning import sweep

        self._check_sweep(arguments)
        self.experiment = experiment_name(self.config)
        self.tracking = bool(self.config.mlflow.enabled)
        self._open_study(arguments)
        if self.worker:  # not the lead: no setup, no report
            self._run_workers(arguments, spawn=not self.spawned)
            return None
        print(
            f"study '{self.study.study_name}' in {sweep.redact(self.url)}: "
            f"{sweep.counted(self.study.trials)} of {self.n_trials} trials done; "
            f"{self.n_workers} worker(s)"
        )
        with self._parent_run() as parent:
            if parent.run_id:
                self.study.set_user_attr("mlflow_parent_run_id", parent.run_id)
            self._run_workers(arguments, spawn=True)
            self._report(parent, arguments)
        return None

    def _check_sweep(self, arguments: list[str]) -> None:
        """Refuse what cannot be swept, before the study is opened or any trial runs."""
        from rl_harness.errors import ConfigError
        from rl_harness.tuning import sweep

        for arg in arguments:
            if OverridesParser.create().parse_override(arg).is_sweep_override():
                raise ConfigError(
                    f"'{arg}': give search ranges in hydra.sweeper.space, not as a Hydra sweep"
                )
        if self.n_trials < 1 or self.n_workers < 1:
            raise ConfigError("hydra.sweeper.n_trials and n_workers must be ≥ 1")
        self.params = sweep.parse_space(self.options["space"], self.config)
        self._check_composes(arguments)

    def _open_study(self, arguments: list[str]) -> None:
        """Create the study or load it to resume; the lead fails the trials of dead workers.

        The study the loop uses is loaded after that: for an RDB storage Optuna caches finished
        trials per handle, and a cached trial would miss the `interrupted` mark set here.
        """
        import optuna

        from rl_harness.tuning import sweep

        self.sweep_dir = Path(str(self.config.hydra.sweep.dir)).resolve()
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.lock = self.sweep_dir / ".ask.lock"
        self.url = self.options["storage"] or str(self.sweep_dir / "optuna.journal")
        rdb = "://" in self.url
        self.storage = sweep.open_storage(self.url, self.options["heartbeat"] if rdb else None)
        name = str(self.options["study_name"])
        study = optuna.create_study(
            study_name=name,
            storage=self.storage,
            direction=self.options["direction"],
            load_if_exists=True,
        )
        self._check_same_sweep(study, arguments)
        seed_offset = 1000 * self.worker + len(study.trials)
        if not self.worker:
            self._fail_orphans(study)
        self.study = optuna.load_study(
            study_name=name,
            storage=self.storage,
            sampler=sweep.make_sampler(
                self.options["sampler"], seed_offset, parallel=self.n_workers > 1 or rdb
            ),
            pruner=sweep.make_pruner(self.options["pruner"]),
        )

    def _fail_orphans(self, study: Any) -> None:
        from rl_harness.tuning import sweep

        retry = self.options["retry_interrupted"]
        with self._locked():
            orphans = sweep.fail_orphans(study, self.storage, retry)
        for t in orphans:
            print(
                f"trial {t.number}: its process died; marked FAIL"
                + (" and queued to run again" if retry else "")
            )
            self._tag_run(
                t.number,
                {"optuna.state": "FAIL", "optuna.error": "process died"},
                end_running="KILLED",
            )

    def _parent_run(self) -> contextlib.AbstractContextManager[Any]:
        """The study's MLflow parent run: opened on the first session, reopened on resumes."""
        from rl_harness.tracking import runs as tracking
        from rl_harness.tracking.recorder import NullRecorder

        study = self.study
        if not self.tracking:
            return contextlib.nullcontext(NullRecorder())
        parent_id = study.user_attrs.get("mlflow_parent_run_id")
        return tracking.mlflow_run(
            self.experiment,
            run_name=f"sweep {study.study_name}",
            tags=self._parent_tags(),
            run_id=parent_id if parent_id and tracking.run_exists(parent_id) else None,
        )

    def _check_composes(self, arguments: list[str]) -> None:
        """Compose and validate one trial's config (lowest values, first choices) up front."""
        from rl_harness.training import train
        from rl_harness.tuning import sweep

        first = {p.path: p.first() for p in self.params}
        job_cfg = self.hydra_context.config_loader.load_sweep_config(
            self.config, [*arguments, *sweep.overrides(self.params, first)]
        )
        train.validate(job_cfg)

    def _check_same_sweep(self, study: Any, arguments: list[str]) -> None:
        from rl_harness.errors import ConfigError

        fixed = sorted(arguments)
        before = study.user_attrs.get("overrides")
        if before is None:
            study.set_user_attr("overrides", fixed)
        elif before != fixed:
            raise ConfigError(
                f"study '{study.study_name}' was started with overrides {' '.join(before)}; "
                f"this command has {' '.join(fixed)}: use the same ones to resume, or a new "
                "hydra.sweeper.study_name"
            )

    def _parent_tags(self) -> dict[str, str]:
        from rl_harness.tuning import sweep

        o, choices = self.options, self.config.hydra.runtime.choices
        tags = {
            "optuna.study": str(o["study_name"]),
            "optuna.storage": sweep.redact(self.url),
            "optuna.direction": o["direction"],
            "optuna.n_trials": str(self.n_trials),
            "optuna.sampler": str(o["sampler"]),
            "optuna.pruner": str(o["pruner"]),
            "algo": self.config.algo.name,
            "env": self.config.env.id,
            "sweep.dir": str(self.sweep_dir),
            "sweep": str(choices.get("sweep")),
        }
        return tags

    # ------------------------------------------------------------ the loop

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Ask-and-count is atomic among this machine's workers."""
        with open(self.lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _run_workers(self, arguments: list[str], spawn: bool) -> None:
        """This process's loop, beside the `n_workers - 1` it starts when `spawn`."""
        workers = self._start_workers(arguments) if spawn else []
        try:
            self._loop(arguments)
        finally:
            self._stop_workers(workers)

    def _loop(self, arguments: list[str]) -> None:
        from rl_harness.tuning import sweep

        study = self.study
        while True:
            with self._locked():
                if sweep.counted(study.get_trials(deepcopy=False)) >= self.n_trials:
                    return
                with warnings.catch_warnings():  # we beat ourselves (tuning.storage.heartbeat)
                    warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                    trial = study.ask(sweep.distributions(self.params))
                trial.set_user_attr("owner", sweep.owner())
            earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
            if sweep.counted(earlier) >= self.n_trials:  # another machine asked at the same time
                trial.set_user_attr("surplus", True)
                study.tell(trial, state=sweep.TrialState.FAIL)
                return
            self._run_trial(trial, arguments)

    def _run_trial(self, trial: Any, arguments: list[str]) -> None:
        from rl_harness.tuning import sweep

        q = sweep.hydra_value
        job = [
            *arguments,
            *sweep.overrides(self.params, trial.params),
            f"+optuna.study={q(self.study.study_name)}",
            f"+optuna.storage={q(self.url)}",
            f"+optuna.trial={trial.number}",
        ]
        threads = max(1, len(os.sched_getaffinity(0)) // self.n_workers)
        if self.config.torch_threads > threads:
            job.append(f"torch_threads={threads}")
        tid = sweep.trial_id(self.storage, self.study.study_name, trial.number)
        try:
            with sweep.heartbeat(self.storage, tid, self.options["heartbeat"]):
                [ret] = self.launcher.launch([job], initial_job_idx=trial.number)
        except KeyboardInterrupt:
            sweep.mark_interrupted(
                self.study,
                self.storage,
                self.storage.get_trial(tid),
                "stopped by Ctrl-C",
                self.options["retry_interrupted"],
            )
            self._tag_run(trial.number, {"optuna.state": "FAIL", "optuna.error": "Ctrl-C"})
            raise
        state, value, error = outcome(ret, self.storage.get_trial_user_attrs(tid))
        if error:
            trial.set_user_attr("error", error[:2000])
        if state == sweep.TrialState.COMPLETE:
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=state)
        self._record(trial, self.storage.get_trial(tid), error)

    def _record(self, trial: Any, frozen: Any, error: str | None) -> None:
        """Tag the finished trial's run (or open a FAILED one for it) and print one line."""
        from rl_harness.tuning import sweep

        tags = {"optuna.state": frozen.state.name}
        if frozen.value is not None:
            tags["optuna.value"] = f"{frozen.value:.6g}"
        if error:
            tags["optuna.error"] = error[:500]
        if not self._tag_run(trial.number, tags) and frozen.state == sweep.TrialState.FAIL:
            self._failed_run(trial, tags, error or "failed")
        pruned_at = frozen.user_attrs.get("pruned_at")
        print(
            f"trial {trial.number}: {frozen.state.name}"
            + (f" at step {pruned_at}" if pruned_at is not None else "")
            + (f", value {frozen.value:.4g}" if frozen.value is not None else "")
            + (f": {error}" if error else ""),
            flush=True,
        )

    def _tag_run(
        self, number: int, tags: dict[str, str], end_running: str | None = None
    ) -> list[str]:
        """Tag the trial's MLflow run(s); returns their ids ([] where the trial opened none)."""
        if not self.tracking:
            return []
        from rl_harness.tracking import runs as tracking

        return tracking.update_runs(
            self.experiment,
            {"optuna.study": str(self.options["study_name"]), "optuna.trial": str(number)},
            tags,
            end_running,
        )

    def _failed_run(self, trial: Any, tags: dict[str, str], error: str) -> None:
        """A trial that failed before its run opened (e.g. the model could not be built) still
        gets a FAILED child run under the sweep, with its sampled parameters and the error."""
        from rl_harness.tracking import runs as tracking
        from rl_harness.tuning.job import trial_name

        own = {"optuna.study": self.study.study_name, "optuna.trial": str(trial.number)}
        if parent := self.study.user_attrs.get("mlflow_parent_run_id"):
            own["mlflow.parentRunId"] = parent
        tracking.failed_run(
            self.experiment, trial_name(trial), {**own, **tags}, trial.params, error
        )

    # ------------------------------------------------------------ workers

    def _start_workers(self, arguments: list[str]) -> list[subprocess.Popen]:
        from rl_harness.tuning.sweep import hydra_value

        hydra_args = [a for a in self.config.hydra.overrides.hydra if not a.startswith(OWN_KEYS)]
        workers = []
        for k in range(1, self.n_workers):
            log = self.sweep_dir / f"worker-{self.worker + k}.log"
            cmd = [
                sys.executable,
                "-m",
                "rl_harness",
                "-m",
                *arguments,
                *hydra_args,
                f"hydra.sweeper.worker={self.worker + k}",
                "hydra.sweeper.spawned=true",
                f"hydra.sweeper.storage={hydra_value(self.url)}",
                f"hydra.sweep.dir={hydra_value(str(self.sweep_dir))}",
            ]
            with open(log, "a") as out:
                workers.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))
            print(f"worker {self.worker + k}: pid {workers[-1].pid}, log {log}")
        return workers

    def _stop_workers(self, workers: list[subprocess.Popen]) -> None:
        stopping = sys.exc_info()[0] is not None
        for w in workers:
            if stopping and w.poll() is None:
                w.send_signal(signal.SIGINT)
        for k, w in enumerate(workers, self.worker + 1):
            try:
                rc = w.wait(timeout=120 if stopping else None)
            except subprocess.TimeoutExpired:
                w.kill()
                rc = w.wait()
            if rc not in (0, 130, -signal.SIGINT):
                print(
                    f"worker {k} exited with {rc}; see {self.sweep_dir}/worker-{k}.log",
                    file=sys.stderr,
                )

    # ------------------------------------------------------------ results

    def _report(self, parent: Any, arguments: list[str]) -> None:
        """summary.txt, best_hparams.yaml, the parent run's metrics and `best.*` tags."""
        from rl_harness.tuning import sweep

        table = sweep.summary(self.study, self.params)
        (self.sweep_dir / "summary.txt").write_text(table + "\n")
        print(table)
        trials = self.study.get_trials(deepcopy=False)
        counts = sweep.counts(trials)
        metrics: dict[str, Any] = {f"trials/{s}": counts[s] for s in ("complete", "pruned", "fail")}
        metrics["timesteps/total"] = counts["timesteps"]
        try:
            best = self.study.best_trial
        except ValueError:
            best = None
        if best is not None:
            metrics["best/value"] = best.value
            self._export_best(parent, best, counts, arguments)
        parent.log_metrics(metrics, step=sweep.counted(trials))
        parent.log_artifact(self.sweep_dir / "summary.txt")
        print(f"dashboard: optuna-dashboard {sweep.redact(self.url)}")

    def _export_best(
        self, parent: Any, best: Any, counts: dict[str, int], arguments: list[str]
    ) -> None:
        """The best trial's config as conf/hparams YAML, logged and tagged on the parent run."""
        from rl_harness.tuning import sweep

        study, params = self.study, self.params
        job_cfg = self.hydra_context.config_loader.load_sweep_config(
            self.config, [*arguments, *sweep.overrides(params, best.params)]
        )
        header = (
            f"Best of Optuna study '{study.study_name}': trial {best.number}, value "
            f"{best.value:.6g} ({counts['complete']} complete, {counts['pruned']} "
            f"pruned).\nCommand-line overrides: {' '.join(arguments)}\n"
            f"Use it as conf/hparams/{self.config.algo.name}_"
            f"{self.config.hydra.runtime.choices.env}.yaml"
        )
        path = sweep.write_hparams(
            sweep.best_hparams(job_cfg, params), self.sweep_dir / "best_hparams.yaml", header
        )
        best_values = {
            f"best.{p.path}": sweep.hydra_value(p.value(best.params[p.path]))
            for p in params
            if p.path in best.params
        }
        parent.set_tags({"best.trial": best.number, **best_values})
        parent.log_artifact(path)
        print(f"best hyperparameters: {path}")


def outcome(ret: JobReturn, attrs: dict[str, Any]) -> tuple[Any, float | None, str | None]:
    """(state, value, error) of a trial from what its job returned and set on the trial."""
    from optuna.trial import TrialState

    if ret.status == JobStatus.FAILED:
        return TrialState.FAIL, None, job_error(ret)
    if attrs.get("pruned_at") is not None:
        return TrialState.PRUNED, None, None
    if attrs.get("error"):
        return TrialState.FAIL, None, str(attrs["error"])
    value = ret.return_value
    if not isinstance(value, int | float) or not math.isfinite(value):
        return TrialState.FAIL, None, f"the objective is {value!r}"
    return TrialState.COMPLETE, float(value), None


def job_error(ret: JobReturn) -> str:
    """A failed job's exception in one line. `JobReturn.return_value` raises it, after writing
    "Error executing job with overrides: ..." to stderr: the trial's own line says it instead."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            _ = ret.return_value
    except Exception as e:
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return "the job failed"
