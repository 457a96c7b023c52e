"""A sweep without Hydra: Optuna asks, a `launch(overrides, index)` callable runs each job.

    python -m rl_harness -m sweep=ppo env=cartpole hydra.sweeper.n_trials=30

One loop per worker process, all on one Optuna storage: ask (under the sweep's lock, so
n_trials is the study's total), launch the job with the trial's overrides plus
`+optuna.study/storage/trial`, tell COMPLETE / PRUNED / FAIL from what the job returned and
recorded on the trial (asktell.py). The first worker (the lead, `worker=0`) also fails the trials
of dead processes (they are run again) and opens the study's MLflow parent run; at the end it
writes the best hyperparameters and prints the summary (report.py). Each machine's first process
starts `n_workers - 1` more (workers.py).

The Hydra sweeper plugin (`hydra_plugins/rl_harness_sweeper`) is an adapter over `Scheduler`:
it hands over its options, the primary config, a `launch` that runs one job through Hydra's
launcher and a `compose` that builds one job's config; tests hand over plain callables.

    sweeper (plugin) ─▶ Scheduler.run ─▶ space.parse_space, storage.open_storage,
                                         search.make_sampler/make_pruner, versions.check/record
                        lead: trials.fail_orphans; report.parent_run
                        loop: asktell.next_unit (units: a trial's k seeds, raced or all run
                              (race.py), then validation jobs)
                              run_unit: launch(job overrides) under one heartbeat (an
                                incumbent run that finished before: reuse.py, not launched)
                              asktell.after_seed / after_job ─▶ study.tell
                        lead: report.report (summary, best_hparams, validation, promotion)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig

from rl_harness.common import liveness
from rl_harness.common.processes import threads_each
from rl_harness.config.names import experiment_name
from rl_harness.errors import ConfigError, HarnessError, exit_with
from rl_harness.tuning import asktell, report, retries, reuse, storage, trials, versions, workers
from rl_harness.tuning import objective as objectives
from rl_harness.tuning import validation as validations
from rl_harness.tuning.locks import SweepLock
from rl_harness.tuning.search import make_pruner, make_sampler
from rl_harness.tuning.space import hydra_value, largest, overrides, parse_space, sweep_space
from rl_harness.tuning.state import Compose, Launch, Launched, SweepState
from rl_harness.tuning.units import Unit, kept_claim

POLL_SECONDS = 2.0


def main(
    options: Mapping[str, Any],
    config: DictConfig,
    launch: Launch,
    compose: Compose,
    arguments: list[str],
    swept: Sequence[str] = (),
) -> None:
    """The sweeper's entry: this worker's share of the sweep. A HarnessError ends it in one
    line (exit 2), Ctrl-C with exit 130. `swept`: the arguments that are Hydra sweeps."""
    try:
        for arg in swept:
            raise ConfigError(
                f"'{arg}': give search ranges in hydra.sweeper.space, not as a Hydra sweep"
            )
        # a space file that says `_whole_: true` is the whole space (tuning.space.sweep_space)
        options = {**options, "space": sweep_space(options.get("space"), config)}
        Scheduler(options, config, launch, compose).run(arguments)
    except HarnessError as e:
        exit_with(e, "rl_harness")
    except KeyboardInterrupt:
        print(
            "sweep stopped (Ctrl-C); the study is intact: run the same command to resume",
            file=sys.stderr,
        )
        sys.exit(130)


class Scheduler(SweepState):
    """One worker of a sweep: `options` are `hydra.sweeper`'s, `config` the sweep's primary
    config (with its `hydra` node: sweep dir, choices, overrides)."""

    def __init__(
        self, options: Mapping[str, Any], config: DictConfig, launch: Launch, compose: Compose
    ) -> None:
        self.options, self.config = dict(options), config
        self.launch, self.compose = launch, compose
        self.n_trials, self.n_workers = int(options["n_trials"]), int(options["n_workers"])
        self.worker, self.spawned = int(options["worker"]), bool(options["spawned"])
        self.k = options["seeds"]
        self.race = options.get("race", True)
        self.study_name = str(options["study_name"])

    def run(self, arguments: list[str]) -> None:
        """check the sweep → open the study → (lead) fail orphans, open the parent run →
        run the workers → (lead) report."""
        self.check(arguments)
        self.experiment = experiment_name(self.config)
        self.tracking = bool(self.config.mlflow.enabled)
        self.open_study(arguments)
        if self.worker:  # not the lead: no setup, no report
            self.run_workers(arguments, spawn=not self.spawned)
            return
        print(
            f"study '{self.study.study_name}' in {storage.redact(self.url)}: "
            f"{trials.counted(self.study.trials)} of {self.n_trials} trials done; "
            f"{self.n_workers} worker(s)"
        )
        with report.parent_run(self) as parent:
            if parent.run_id:
                self.study.set_user_attr("mlflow_parent_run_id", parent.run_id)
            self.run_workers(arguments, spawn=True)
            report.report(self, parent, arguments)

    # ------------------------------------------------------------ set up

    def check(self, arguments: list[str]) -> None:
        """Refuse what cannot be swept, before the study is opened or any trial runs."""
        from rl_harness.training import train

        if self.n_trials < 1 or self.n_workers < 1:
            raise ConfigError("hydra.sweeper.n_trials and n_workers must be ≥ 1")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ConfigError(f"hydra.sweeper.seeds must be an integer ≥ 1, got {self.k!r}")
        if not isinstance(self.race, bool):
            raise ConfigError(f"hydra.sweeper.race must be true or false, got {self.race!r}")
        self.metric, self.how = objectives.check(self.options["objective"])
        self.checks = validations.settings(self.options["validate"])
        self.params = parse_space(self.options["space"], self.config)
        n_envs = largest(self.params, "n_envs", self.config.n_envs)
        validations.check_seeds(
            self.checks, self.config.seed, self.k, n_envs, self.options["direction"]
        )
        # one trial's config (lowest values, first choices), composed and validated up front
        first = {p.path: p.first() for p in self.params}
        train.validate(self.compose([*arguments, *overrides(self.params, first)]))

    def open_study(self, arguments: list[str]) -> None:
        """Create the study or load it to resume (not one another Optuna major version started:
        versions.py); the lead fails the trials of dead workers.

        The study the loop uses is loaded after that: for an RDB storage Optuna caches finished
        trials per handle, and a cached trial would miss the `interrupted` mark set here.
        """
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir)).resolve()
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.url = self.options["storage"] or str(self.sweep_dir / "optuna.journal")
        self.lock = SweepLock(self.sweep_dir / ".ask.lock", self.url, self.study_name)
        parallel = self.n_workers > 1 or "://" in self.url
        self.sampling = versions.sampling(self.options["sampler"], self.options["pruner"], parallel)
        self.storage = storage.open_storage(self.url)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            direction=self.options["direction"],
            load_if_exists=True,
        )
        versions.check(self.study_name, study.user_attrs)
        self.check_same_sweep(study, arguments)
        versions.record(study, self.sampling)
        seed_offset = 1000 * self.worker + len(study.trials)
        if self.fails_orphans():
            self.fail_orphans(study)
        self.study = optuna.load_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=make_sampler(self.options["sampler"], seed_offset, parallel=parallel),
            pruner=make_pruner(self.options["pruner"]),
        )

    def check_same_sweep(self, study: optuna.Study, arguments: list[str]) -> None:
        from rl_harness.tuning.space import check_resumable

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
        check_resumable(self.params, study.trials, study.study_name)
        if before is None:
            study.set_user_attr("overrides", fixed)
        elif before != fixed:
            raise ConfigError(
                f"study '{study.study_name}' was started with overrides {' '.join(before)}; "
                f"this command has {' '.join(fixed)}: use the same ones to resume, or a new "
                "hydra.sweeper.study_name"
            )

    def fails_orphans(self) -> bool:
        """Every worker where the lock covers them all (a lost lead's trials are retried too);
        else only the lead, so that no dead trial is queued again twice."""
        return not self.worker or storage.serialised(self.url)

    def fail_orphans(self, study: optuna.Study) -> None:
        retry = self.options["retry_interrupted"]
        with self.lock.held():
            orphans = trials.fail_orphans(study, self.storage, retry)
        for t in orphans:
            print(
                f"trial {t.number}: its process died; marked FAIL"
                + (" and queued to run again" if retry else "")
            )
            asktell.tag_run(
                self,
                t.number,
                {"optuna.state": "FAIL", "optuna.error": "process died"},
                end_running="KILLED",
            )

    # ------------------------------------------------------------ the loop

    def run_workers(self, arguments: list[str], spawn: bool) -> None:
        """This process's loop, beside the `n_workers - 1` it starts when `spawn`."""
        started = []
        if spawn:
            hydra_args = list(self.config.hydra.overrides.hydra)
            started = workers.start(
                arguments, hydra_args, self.worker, self.n_workers, self.url, self.sweep_dir
            )
        try:
            self.loop(arguments)
        finally:
            workers.stop(started, self.worker, self.sweep_dir)

    def loop(self, arguments: list[str]) -> None:
        """Take the next unit of work until none is left: a trial's seed, a new trial, then
        the validation jobs. Wait while others run what the rest depends on."""
        while True:
            with self.lock.held():
                unit = asktell.next_unit(self)
            if unit is None:
                return
            if isinstance(unit, int):  # a trial left untold: end it from its seeds' results
                asktell.finish_trial(self, unit, None)
                continue
            if isinstance(unit, str):  # WAIT
                if self.fails_orphans():
                    self.fail_orphans(self.study)
                time.sleep(POLL_SECONDS)
                continue
            self.run_unit(unit, arguments)

    def run_unit(self, unit: Unit, arguments: list[str]) -> None:
        """Launch one job: a trial's seed, a re-test or an incumbent run; record its outcome.
        While it runs, one heartbeat renews its claim and beats for its trial in the storage."""
        job = [
            *(a for a in arguments if not (unit.sets_seed and _is_seed(a))),
            *self.unit_overrides(unit),
            f"+optuna.study={hydra_value(self.study.study_name)}",
            f"+optuna.storage={hydra_value(self.url)}",
            f"+optuna.job={unit.label}",
            *self.continued(unit),
        ]
        threads = threads_each(self.n_workers)
        if self.config.torch_threads > threads:
            job.append(f"torch_threads={threads}")
        if unit.stage == "incumbent" and self.tracking:
            if found := reuse.finished_twin(self.compose(job), self.experiment):
                asktell.after_job(self, unit, Launched(found))
                return
        tid = self.trial_id(unit) if unit.stage == "trial" else None
        beats = [
            *storage.heartbeat_actions(self.storage, tid),
            *kept_claim(self.study, self.storage, unit),
        ]
        try:
            with liveness.heartbeat(*beats):
                ret = Launched(*self.launch(job, unit.trial or 0))
        except KeyboardInterrupt:
            asktell.interrupted(self, unit, tid)
            raise
        if tid is not None:
            asktell.after_seed(self, unit, tid, ret)
        else:
            asktell.after_job(self, unit, ret)

    def trial_id(self, unit: Unit) -> int:
        """The storage id of the trial a unit runs for (a trial's seed, or a re-test)."""
        assert unit.trial is not None
        return storage.trial_id(self.storage, self.study_name, unit.trial)

    def unit_overrides(self, unit: Unit) -> list[str]:
        if unit.stage == "incumbent":
            return [f"seed={unit.seed}", "+optuna.stage=incumbent"]
        tid = self.trial_id(unit)
        params = overrides(self.params, self.storage.get_trial(tid).params)
        if unit.stage == "retest":
            return [
                *params,
                f"seed={unit.seed}",
                "+optuna.stage=retest",
                f"+optuna.trial={unit.trial}",
            ]
        if unit.k == 1:
            return [*params, f"+optuna.trial={unit.trial}"]
        span = largest(self.params, "n_timesteps", self.config.n_timesteps)
        own = [f"seed={unit.seed}", f"+optuna.seed_index={unit.index}", f"+optuna.seed_span={span}"]
        return [*params, f"+optuna.trial={unit.trial}", *own]

    def continued(self, unit: Unit) -> list[str]:
        """`resume=<run id>` where an earlier attempt at this job died with a checkpoint."""
        if not self.tracking:
            return []
        retry_of = None
        if unit.stage == "trial":
            tid = self.trial_id(unit)
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


def _is_seed(argument: str) -> bool:
    """A `seed=` override, which a job that runs its own seed leaves out."""
    return argument.lstrip("+").split("=", 1)[0] == "seed"
