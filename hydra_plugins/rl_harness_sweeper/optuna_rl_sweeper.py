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
import signal
import subprocess
import sys
import time
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

from rl_harness.common import seeds as seed_blocks


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
    # TPE's arguments whose defaults Optuna 5 changed, given: the same search under 4 and 5
    sampler: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "tpe",
            "tpe": {"multivariate": True, "constant_liar": True},
        }
    )
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    space: Any = None  # see conf/sweep/ppo.yaml; `space=null` before `space={...}` replaces it
    retry_interrupted: bool = True  # run again a trial whose process died or was stopped
    heartbeat: int = 30  # seconds, RDB storages: trials of a lost machine fail after 4 beats
    worker: int = 0  # 0: the lead, which sets up and reports; other machines use 10, 20, ...
    spawned: bool = False  # internal: started by another worker of this machine
    # Tuning seeds per trial (seed, seed+1, ...), inside the TUNING block (0..4999,
    # rl_harness.common.seeds); each runs as its own job on a free worker.
    # 1 scores a trial on one seed; raise it (3-5) when seeds of one config disagree by more
    # than the configs differ — the winner of a 1-seed study is partly the luckiest seed.
    seeds: int = 1
    # A trial's value: `aggregate` (mean | iqm) over its seeds of `metric` (last: the closing
    # evaluation; best: the best evaluation; auc: the evaluation curve's mean height).
    objective: dict[str, Any] = field(
        default_factory=lambda: {"metric": "last", "aggregate": "mean"}
    )
    # After the search: the `top` best trials retrained on `seeds` test seeds from
    # `seed_offset`, inside the VALIDATION block (5000..7999), ranked by test IQM; the winner
    # against the incumbent (conf/hparams/<algo>_<env>.yaml, or the defaults) on the same
    # seeds. top=0: none.
    # `promote=true` replaces that file (or `promote_to`) when the winner is significantly
    # better; its model is registered as `model_name` (default <algo>-<env>) @champion.
    validate: dict[str, Any] = field(
        default_factory=lambda: {
            "top": 5,
            "seeds": 5,
            "seed_offset": seed_blocks.VALIDATION.start,
            "promote": False,
            "promote_to": None,
            "model_name": None,
        }
    )


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna_rl", node=OptunaRLSweeperConf, provider="rl_harness"
)
WAIT = "wait"  # _next_unit: nothing to take now, but others run what may open more work
POLL_SECONDS = 2.0
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
        self._holding = False  # _locked
        self.k = options["seeds"]

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
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"hydra.sweeper.seeds must be an integer ≥ 1, got {self.k!r}")
        self.metric, self.how = sweep.check_objective(self.options["objective"])
        self.checks = sweep.validation_settings(self.options["validate"])
        self.params = sweep.parse_space(self.options["space"], self.config)
        n_envs = sweep.largest(self.params, "n_envs", self.config.n_envs)
        sweep.check_seeds(self.checks, self.config.seed, self.k, n_envs, self.options["direction"])
        self._check_composes(arguments)

    def _open_study(self, arguments: list[str]) -> None:
        """Create the study or load it to resume (not one another Optuna major version started:
        rl_harness.tuning.versions); the lead fails the trials of dead workers.

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
        parallel = self.n_workers > 1 or rdb
        self.sampling = sweep.sampling(self.options["sampler"], self.options["pruner"], parallel)
        self.storage = sweep.open_storage(self.url, self.options["heartbeat"] if rdb else None)
        name = str(self.options["study_name"])
        study = optuna.create_study(
            study_name=name,
            storage=self.storage,
            direction=self.options["direction"],
            load_if_exists=True,
        )
        sweep.check_optuna(name, study.user_attrs)
        self._check_same_sweep(study, arguments)
        sweep.record_sampling(study, self.sampling)
        seed_offset = 1000 * self.worker + len(study.trials)
        if self._fails_orphans():
            self._fail_orphans(study)
        self.study = optuna.load_study(
            study_name=name,
            storage=self.storage,
            sampler=sweep.make_sampler(self.options["sampler"], seed_offset, parallel=parallel),
            pruner=sweep.make_pruner(self.options["pruner"]),
        )

    def _fails_orphans(self) -> bool:
        """Every worker where the lock covers them all (a lost lead's trials are retried too);
        else only the lead, so that no dead trial is queued again twice."""
        from rl_harness.tuning import sweep

        return not self.worker or sweep.serialised(self.url)

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
        from rl_harness.tuning import sweep

        fixed = sorted(arguments)
        before = study.user_attrs.get("overrides")
        k = study.user_attrs.get("seeds_per_trial", 1 if before is not None else None)
        if k is None:
            study.set_user_attr("seeds_per_trial", self.k)
        elif k != self.k:
            raise ConfigError(
                f"study '{study.study_name}' scores each trial on {k} seed(s); this command "
                f"has hydra.sweeper.seeds={self.k}: use {k} to resume, or a new study_name"
            )
        sweep.check_resumable(self.params, study.trials, study.study_name)
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
            **sweep.sampling_tags(self.sampling),  # Optuna's version, the classes' arguments
        }
        return tags

    # ------------------------------------------------------------ the loop

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Ask-and-count, claims and failing orphans are atomic among the study's workers: a
        file lock among this machine's, and on PostgreSQL an advisory lock among every
        machine's (taken in that order). Reentrant: a held lock is not taken again."""
        if self._holding:
            yield
            return
        from rl_harness.tuning import sweep

        with open(self.lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                with sweep.study_lock(self.url, str(self.options["study_name"])):
                    self._holding = True
                    try:
                        yield
                    finally:
                        self._holding = False
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
        """Take the next unit of work until none is left: a trial's seed, a new trial, then
        the validation jobs. Wait while others run what the rest depends on."""
        while True:
            with self._locked():
                unit = self._next_unit()
            if unit is None:
                return
            if isinstance(unit, int):  # a trial left untold: end it from its seeds' results
                self._finish_trial(unit, None)
                continue
            if unit is WAIT:
                if self._fails_orphans():
                    self._fail_orphans(self.study)
                time.sleep(POLL_SECONDS)
                continue
            self._run_unit(unit, arguments)

    def _next_unit(self) -> Any:
        """A claimed Unit, WAIT, None when every trial and validation job has finished, or
        the id of a trial whose seeds all finished but which was never told."""
        from rl_harness.tuning import sweep

        study = self.study
        trials = study.get_trials(deepcopy=False)
        if self.k > 1:
            for t in trials:
                if sweep.stranded(t):
                    return sweep.trial_id(self.storage, study.study_name, t.number)
                if unit := sweep.open_trial_seed(t, self.k):
                    sweep.claim(study, self.storage, unit)
                    return unit
        if sweep.counted(trials) < self.n_trials:
            return self._ask()
        if any(t.state in (sweep.TrialState.RUNNING, sweep.TrialState.WAITING) for t in trials):
            return WAIT
        jobs = sweep.validation_units(study, self.checks) if self.checks.top else []
        if unit := sweep.open_job(study, jobs):
            sweep.claim(study, self.storage, unit)
            return unit
        done = sweep.job_results(study)
        return None if all(u.label in done for u in jobs) else WAIT

    def _ask(self) -> Any:
        """A new trial (or one queued again) and the first of its seeds to run."""
        from rl_harness.tuning import sweep

        study = self.study
        with warnings.catch_warnings():  # we beat ourselves (tuning.storage.heartbeat)
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trial = study.ask(sweep.distributions(self.params))
        if "seeds" not in trial.user_attrs:
            trial.set_user_attr("seeds", sweep.seeds(int(self.config.seed), self.k))
        if self.k == 1:
            trial.set_user_attr("owner", sweep.owner())
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        if sweep.counted(earlier) >= self.n_trials:  # another machine asked at the same time
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=sweep.TrialState.FAIL)
            return WAIT
        tid = sweep.trial_id(self.storage, study.study_name, trial.number)
        unit = sweep.open_trial_seed(self.storage.get_trial(tid), self.k)
        if unit is None:  # a retried trial whose seeds had all finished
            self._finish_trial(tid, None)
            return WAIT
        if self.k > 1:
            sweep.claim(study, self.storage, unit)
        return unit

    def _run_unit(self, unit: Any, arguments: list[str]) -> None:
        """Launch one job: a trial's seed, a re-test or an incumbent run; record its outcome."""
        from rl_harness.common.processes import threads_each
        from rl_harness.tuning import sweep

        q = sweep.hydra_value
        job = [
            *(a for a in arguments if not (unit.sets_seed and _is_seed(a))),
            *self._unit_overrides(unit),
            f"+optuna.study={q(self.study.study_name)}",
            f"+optuna.storage={q(self.url)}",
            f"+optuna.job={unit.label}",
            *self._continued(unit),
        ]
        threads = threads_each(self.n_workers)
        if self.config.torch_threads > threads:
            job.append(f"torch_threads={threads}")
        tid = None
        if unit.stage == "trial":
            tid = sweep.trial_id(self.storage, self.study.study_name, unit.trial)
        try:
            with (
                sweep.heartbeat(self.storage, tid, self.options["heartbeat"]),
                sweep.kept(self.study, self.storage, unit),
            ):
                [ret] = self.launcher.launch([job], initial_job_idx=unit.trial or 0)
        except KeyboardInterrupt:
            self._interrupted(unit, tid)
            raise
        if tid is not None:
            self._after_seed(unit, tid, ret)
        else:
            self._after_job(unit, ret)

    def _continued(self, unit: Any) -> list[str]:
        """`resume=<run id>` where an earlier attempt at this job died with a checkpoint."""
        if not self.tracking:
            return []
        from rl_harness.tuning import retries, sweep

        retry_of = None
        if unit.stage == "trial":
            tid = sweep.trial_id(self.storage, self.study.study_name, unit.trial)
            retry_of = self.storage.get_trial_user_attrs(tid).get("retry_of")
        attempts = retries.earlier_attempts(self.study.study_name, unit, retry_of)
        run_id, why_not = retries.run_to_continue(self.experiment, attempts)
        name = unit.label.replace("_", "-")
        if run_id:
            print(f"{name}: continues run {run_id} from its last checkpoint", flush=True)
            return [f"resume={run_id}"]
        if why_not:
            print(f"{name}: starts over ({why_not})", flush=True)
        return []

    def _unit_overrides(self, unit: Any) -> list[str]:
        from rl_harness.tuning import sweep

        if unit.stage == "incumbent":
            return [f"seed={unit.seed}", "+optuna.stage=incumbent"]
        tid = sweep.trial_id(self.storage, self.study.study_name, unit.trial)
        params = sweep.overrides(self.params, self.storage.get_trial(tid).params)
        if unit.stage == "retest":
            return [
                *params,
                f"seed={unit.seed}",
                "+optuna.stage=retest",
                f"+optuna.trial={unit.trial}",
            ]
        if unit.k == 1:
            return [*params, f"+optuna.trial={unit.trial}"]
        span = sweep.largest(self.params, "n_timesteps", self.config.n_timesteps)
        own = [f"seed={unit.seed}", f"+optuna.seed_index={unit.index}", f"+optuna.seed_span={span}"]
        return [*params, f"+optuna.trial={unit.trial}", *own]

    def _interrupted(self, unit: Any, tid: int | None) -> None:
        """Ctrl-C: a one-seed trial fails and is queued again; a seed or a validation job is
        released, for the next session to run."""
        from rl_harness.tuning import sweep

        if unit.stage == "trial" and unit.k == 1:
            sweep.mark_interrupted(
                self.study,
                self.storage,
                self.storage.get_trial(tid),
                "stopped by Ctrl-C",
                self.options["retry_interrupted"],
            )
            self._tag_run(unit.trial, {"optuna.state": "FAIL", "optuna.error": "Ctrl-C"})
        else:
            sweep.release(self.study, self.storage, unit)

    def _after_seed(self, unit: Any, tid: int, ret: JobReturn) -> None:
        """Keep the seed's scores; the trial ends when a seed is pruned or fails, or when all
        its seeds are scored (then its value is their aggregate)."""
        from rl_harness.tuning import sweep

        state, scores, error = outcome(ret, self.storage.get_trial_user_attrs(tid))
        sweep.record(self.study, self.storage, unit, scores or {"error": error or state.name})
        if unit.k > 1:
            shown = f"{scores[self.metric]:.4g}" if scores and not error else (error or state.name)
            print(f"trial {unit.trial} seed {unit.seed}: {shown}", flush=True)
        self._finish_trial(tid, None if state == sweep.TrialState.COMPLETE else (state, error))

    def _finish_trial(self, tid: int, ended: tuple[Any, str | None] | None) -> None:
        from rl_harness.tuning import sweep

        with self._locked():
            frozen = self.storage.get_trial(tid)
            if frozen.state.is_finished():
                return  # another seed ended it
            if ended is None:
                done = sweep.seed_results(frozen)
                if len(done) < len(frozen.user_attrs["seeds"]):
                    return
                scores = [r.get(self.metric, math.nan) for r in done.values()]
                value = sweep.aggregate(scores, self.how)
                ended = (sweep.TrialState.COMPLETE, None)
                if not math.isfinite(value):
                    ended = (sweep.TrialState.FAIL, f"the objective is {value!r}")
            state, error = ended
            if error:
                self.storage.set_trial_user_attr(tid, "error", error[:2000])
            if state == sweep.TrialState.COMPLETE:
                self.study.tell(frozen.number, value)
            else:
                self.study.tell(frozen.number, state=state)
        self._record(self.storage.get_trial(tid), error)

    def _after_job(self, unit: Any, ret: JobReturn) -> None:
        from rl_harness.tuning import sweep

        state, scores, error = outcome(ret, {})
        sweep.record(self.study, self.storage, unit, scores if not error else {"error": error})
        shown = f"{self.metric} {scores[self.metric]:.4g}" if scores and not error else error
        print(f"{unit.label.replace('_', '-')}: {shown}", flush=True)

    def _record(self, frozen: Any, error: str | None) -> None:
        """Tag the finished trial's run(s) (or open a FAILED one for it) and print one line."""
        from rl_harness.tuning import sweep

        tags = {"optuna.state": frozen.state.name}
        if frozen.value is not None:
            tags["optuna.value"] = f"{frozen.value:.6g}"
        if error:
            tags["optuna.error"] = error[:500]
        if not self._tag_run(frozen.number, tags) and frozen.state == sweep.TrialState.FAIL:
            self._failed_run(frozen, tags, error or "failed")
        pruned_at = frozen.user_attrs.get("pruned_at")
        print(
            f"trial {frozen.number}: {frozen.state.name}"
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
        """A trial (FrozenTrial) that failed before its run opened (e.g. the model could not be
        built) still gets a FAILED child run under the sweep, with its parameters and error."""
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
        """summary.txt, best_hparams.yaml, the parent run's metrics and `best.*` tags; with
        validation, the comparison (champion.py) and its decision."""
        from rl_harness.tracking import runs as tracking
        from rl_harness.tuning import sweep

        if parent.run_id and self.tracking:  # jobs of workers that started before the lead
            tracking.adopt(self.experiment, {"optuna.study": self.study.study_name}, parent.run_id)
        table = sweep.summary(self.study, self.params)
        (self.sweep_dir / "summary.txt").write_text(table + "\n")
        print(table)
        trials = self.study.get_trials(deepcopy=False)
        counts = sweep.counts(trials, sweep.job_results(self.study))
        metrics: dict[str, Any] = {f"trials/{s}": counts[s] for s in ("complete", "pruned", "fail")}
        metrics["timesteps/total"] = counts["timesteps"]
        metrics["timesteps/validation"] = counts["validation_timesteps"]
        try:
            best = self.study.best_trial
        except ValueError:
            best = None
        checked = None
        if best is not None:
            metrics["best/value"] = best.value
            checked = sweep.validation_report(self.study, self.checks, self.metric, self.how)
            if checked is None:
                header = (
                    f"Best of Optuna study '{self.study.study_name}': trial {best.number}, "
                    f"value {best.value:.6g} ({counts['complete']} complete, "
                    f"{counts['pruned']} pruned)."
                )
                self._export(parent, best, header, arguments)
        parent.log_metrics(metrics, step=sweep.counted(trials))
        parent.log_artifact(self.sweep_dir / "summary.txt")
        if checked is not None:
            self._validated(parent, checked, arguments)
        print(f"dashboard: optuna-dashboard {sweep.redact(self.url)}")

    def _validated(self, parent: Any, v: Any, arguments: list[str]) -> None:
        """Write and record the comparison; register the champion; promote it if asked and
        significantly better, else say why not."""
        from rl_harness.config.preflight import CONF_DIR
        from rl_harness.tuning import champion, sweep

        where = champion.Where(
            self.sweep_dir, self.experiment, self.study.study_name, self.tracking
        )
        files = list(champion.write(v, where, self.k, self.metric, self.how))
        promote, why = sweep.decide(v, bool(self.checks.promote))
        c = v.champion
        header = (
            f"Champion of Optuna study '{self.study.study_name}': trial {c.trial}, test IQM "
            f"{c.test_iqm:.6g} [{c.test_ci[0]:.6g}, {c.test_ci[1]:.6g}] on seeds "
            f"{' '.join(map(str, c.test_seeds))} (tuning {c.tuning:.6g});\n"
            f"incumbent {v.incumbent_iqm:.6g}; P(champion > incumbent) = {v.poi:.2f} "
            f"[{v.poi_ci[0]:.2f}, {v.poi_ci[1]:.2f}]."
        )
        frozen = self.study.trials[c.trial]
        files.append(self._export(parent, frozen, header, arguments))
        env = self.config.hydra.runtime.choices.env
        if promote:
            target = Path(
                self.checks.promote_to
                or CONF_DIR / "hparams" / f"{self.config.algo.name}_{env}.yaml"
            )
            why += f": {champion.promote(files[-1], target)}"
        print(why, flush=True)
        champion.record(v, where, parent.run_id, files, why)
        if self.tracking:
            parent.set_tags({**champion.summary_tags(v), "decision": why})
        champion.register(v, where, self.checks.model_name or f"{self.config.algo.name}-{env}")

    def _export(self, parent: Any, trial: Any, header: str, arguments: list[str]) -> Path:
        """A trial's config as conf/hparams YAML (best_hparams.yaml), logged and tagged on the
        parent run."""
        from rl_harness.tuning import sweep

        params = self.params
        job_cfg = self.hydra_context.config_loader.load_sweep_config(
            self.config, [*arguments, *sweep.overrides(params, trial.params)]
        )
        header += (
            f"\nCommand-line overrides: {' '.join(arguments)}\n"
            f"Use it as conf/hparams/{self.config.algo.name}_"
            f"{self.config.hydra.runtime.choices.env}.yaml"
        )
        path = sweep.write_hparams(
            sweep.best_hparams(job_cfg, params), self.sweep_dir / "best_hparams.yaml", header
        )
        best_values = {
            f"best.{p.path}": sweep.hydra_value(p.value(trial.params[p.path]))
            for p in params
            if p.path in trial.params
        }
        parent.set_tags({"best.trial": trial.number, **best_values})
        parent.log_artifact(path)
        print(f"best hyperparameters: {path}")
        return path


def outcome(ret: JobReturn, attrs: dict[str, Any]) -> tuple[Any, dict[str, Any] | None, str | None]:
    """(state, scores, error) of a job from what it returned (objective.scores) and what it set
    on its trial (`attrs`: pruned_at, error); a pruned job still has the scores it reached."""
    from optuna.trial import TrialState

    if ret.status == JobStatus.FAILED:
        return TrialState.FAIL, None, job_error(ret)
    scores = ret.return_value
    if not isinstance(scores, dict):
        return TrialState.FAIL, None, f"the job returned {scores!r}, not its scores"
    if attrs.get("pruned_at") is not None:
        return TrialState.PRUNED, scores, None
    if attrs.get("error"):
        return TrialState.FAIL, scores, str(attrs["error"])
    if not math.isfinite(last := scores.get("last", math.nan)):
        return TrialState.FAIL, scores, f"the objective is {last!r}"
    return TrialState.COMPLETE, scores, None


def _is_seed(argument: str) -> bool:
    """A `seed=` override, which a job that runs its own seed leaves out."""
    return argument.lstrip("+").split("=", 1)[0] == "seed"


def job_error(ret: JobReturn) -> str:
    """A failed job's exception in one line. `JobReturn.return_value` raises it, after writing
    "Error executing job with overrides: ..." to stderr: the trial's own line says it instead."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            _ = ret.return_value
    except Exception as e:
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return "the job failed"
