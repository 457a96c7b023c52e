"""Ask and tell: which unit of work a worker takes next, and what a finished job tells the study.

`next_unit` runs under the sweep's lock: a trial's open seed, else a new trial (or one queued
again), else — once every trial has finished — an open validation job. A trial's value is the
aggregate of its seeds' scores; it ends PRUNED or FAIL as soon as one seed is pruned or fails.
Each finished trial tags its MLflow run(s) and prints one line.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from rl_harness.common.processes import identity
from rl_harness.tuning import race, reuse, storage, trials, units
from rl_harness.tuning.objective import aggregate
from rl_harness.tuning.space import distributions
from rl_harness.tuning.state import Launched, SweepState
from rl_harness.tuning.units import Unit
from rl_harness.tuning.validation import units as validation_units

WAIT = "wait"  # next_unit: nothing to take now, but others run what may open more work


def next_unit(s: SweepState) -> Unit | str | int | None:
    """A claimed Unit, WAIT, None when every trial and validation job has finished, or
    the id of a trial whose seeds all finished but which was never told."""
    study = s.study
    all_trials = study.get_trials(deepcopy=False)
    direction = s.options["direction"]
    if s.k > 1:
        for t in all_trials:
            if units.stranded(t) or out_of_race(s, t, all_trials):
                return storage.trial_id(s.storage, study.study_name, t.number)
            if unit := units.open_trial_seed(t, s.k, in_turn=s.race):
                if s.race and race.waits(t, all_trials, s.metric, s.how, s.checks.top, direction):
                    continue  # others ahead of it run first (race.py)
                units.claim(study, s.storage, unit)
                return unit
    if trials.counted(all_trials) < s.n_trials:
        return ask(s)
    if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in all_trials):
        return WAIT
    jobs = validation_units(study, s.checks) if s.checks.top else []
    if unit := units.open_job(study, jobs):
        units.claim(study, s.storage, unit)
        return unit
    done = units.job_results(study)
    return None if all(u.label in done for u in jobs) else WAIT


def ask(s: SweepState) -> Unit | str:
    """A new trial (or one queued again) and the first of its seeds to run."""
    study = s.study
    with warnings.catch_warnings():  # we beat ourselves (common.liveness.heartbeat)
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        trial = study.ask(distributions(s.params))
    if "seeds" not in trial.user_attrs:
        trial.set_user_attr("seeds", units.seeds(int(s.config.seed), s.k))
    if s.k == 1:
        trial.set_user_attr("owner", identity())
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
    if trials.counted(earlier) >= s.n_trials:  # another machine asked at the same time
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        return WAIT
    tid = storage.trial_id(s.storage, study.study_name, trial.number)
    unit = units.open_trial_seed(s.storage.get_trial(tid), s.k, in_turn=s.race)
    if unit is None:  # a retried trial whose seeds had all finished
        finish_trial(s, tid, None)
        return WAIT
    if s.k > 1:
        units.claim(study, s.storage, unit)
    return unit


def outcome(
    ret: Launched, attrs: dict[str, Any]
) -> tuple[TrialState, dict[str, Any] | None, str | None]:
    """(state, scores, error) of a job from what it returned (objective.scores) and what it set
    on its trial (`attrs`: pruned_at, error); a pruned job still has the scores it reached."""
    if ret.error is not None:
        return TrialState.FAIL, None, ret.error
    scores = ret.value
    if not isinstance(scores, dict):
        return TrialState.FAIL, None, f"the job returned {scores!r}, not its scores"
    if attrs.get("pruned_at") is not None:
        return TrialState.PRUNED, scores, None
    if attrs.get("error"):
        return TrialState.FAIL, scores, str(attrs["error"])
    if not math.isfinite(last := scores.get("last", math.nan)):
        return TrialState.FAIL, scores, f"the objective is {last!r}"
    return TrialState.COMPLETE, scores, None


def after_seed(s: SweepState, unit: Unit, tid: int, ret: Launched) -> None:
    """Keep the seed's scores; the trial ends when a seed is pruned or fails, or when all
    its seeds are scored (then its value is their aggregate)."""
    state, scores, error = outcome(ret, s.storage.get_trial_user_attrs(tid))
    units.record(s.study, s.storage, unit, scores or {"error": error or state.name})
    if unit.k > 1:
        shown = f"{scores[s.metric]:.4g}" if scores and not error else (error or state.name)
        print(f"trial {unit.trial} seed {unit.seed}: {shown}", flush=True)
    finish_trial(s, tid, None if state == TrialState.COMPLETE else (state, error))


def out_of_race(s: SweepState, trial: FrozenTrial, all_trials: list[FrozenTrial]) -> bool:
    """Raced seeds (race.py): the trial stops before its next seed."""
    top = s.checks.top
    return s.race and race.raced_out(
        trial, all_trials, s.k, s.metric, s.how, top, s.options["direction"]
    )


def finish_trial(s: SweepState, tid: int, ended: tuple[TrialState, str | None] | None) -> None:
    """End the trial: as `ended` says, or from its seeds' results — COMPLETE with their
    aggregate once all are scored, PRUNED once it is out of the race; else leave it running."""
    with s.lock.held():
        frozen = s.storage.get_trial(tid)
        if frozen.state.is_finished():
            return  # another seed ended it
        if ended is None:
            done = units.seed_results(frozen)
            if len(done) < len(frozen.user_attrs["seeds"]):
                if not out_of_race(s, frozen, s.study.get_trials(deepcopy=False)):
                    return
                s.storage.set_trial_user_attr(tid, race.RACED_OUT, len(done))
                ended = (TrialState.PRUNED, None)
            else:
                value = aggregate([r.get(s.metric, math.nan) for r in done.values()], s.how)
                ended = (TrialState.COMPLETE, None)
                if not math.isfinite(value):
                    ended = (TrialState.FAIL, f"the objective is {value!r}")
        state, error = ended
        if error:
            s.storage.set_trial_user_attr(tid, "error", error[:2000])
        if state == TrialState.COMPLETE:
            s.study.tell(frozen.number, value)
        else:
            s.study.tell(frozen.number, state=state)
    record_trial(s, s.storage.get_trial(tid), error)


def after_job(s: SweepState, unit: Unit, ret: Launched) -> None:
    """Record a validation job's scores; an incumbent run's also go on its MLflow run, for
    later sweeps to reuse (reuse.py)."""
    state, scores, error = outcome(ret, {})
    if not scores or error:
        units.record(s.study, s.storage, unit, {"error": error})
        print(f"{unit.label.replace('_', '-')}: {error}", flush=True)
        return
    units.record(s.study, s.storage, unit, scores)
    shown = f"{s.metric} {scores[s.metric]:.4g}"
    if twin := scores.get(reuse.REUSED):
        shown += f" (reused run {twin}: same config, seed, commit and package versions)"
    elif unit.stage == "incumbent" and s.tracking and scores.get("run_id"):
        reuse.keep_scores(str(scores["run_id"]), scores)
    print(f"{unit.label.replace('_', '-')}: {shown}", flush=True)


def interrupted(s: SweepState, unit: Unit, tid: int | None) -> None:
    """Ctrl-C: a one-seed trial fails and is queued again; a seed or a validation job is
    released, for the next session to run."""
    if unit.stage == "trial" and unit.k == 1:
        assert tid is not None
        trials.mark_interrupted(
            s.study,
            s.storage,
            s.storage.get_trial(tid),
            "stopped by Ctrl-C",
            s.options["retry_interrupted"],
        )
        tag_run(s, unit.trial, {"optuna.state": "FAIL", "optuna.error": "Ctrl-C"})
    else:
        units.release(s.study, s.storage, unit)


def record_trial(s: SweepState, frozen: FrozenTrial, error: str | None) -> None:
    """Tag the finished trial's run(s) (or open a FAILED one for it) and print one line."""
    tags = {"optuna.state": frozen.state.name}
    if frozen.value is not None:
        tags["optuna.value"] = f"{frozen.value:.6g}"
    if error:
        tags["optuna.error"] = error[:500]
    if not tag_run(s, frozen.number, tags) and frozen.state == TrialState.FAIL:
        failed_run(s, frozen, tags, error or "failed")
    pruned_at = frozen.user_attrs.get("pruned_at")
    raced = frozen.user_attrs.get(race.RACED_OUT)
    print(
        f"trial {frozen.number}: {frozen.state.name}"
        + (f" at step {pruned_at}" if pruned_at is not None else "")
        + (f" (out of the race after {raced} of {s.k} seeds)" if raced is not None else "")
        + (f", value {frozen.value:.4g}" if frozen.value is not None else "")
        + (f": {error}" if error else ""),
        flush=True,
    )


def tag_run(
    s: SweepState, number: int | None, tags: dict[str, str], end_running: str | None = None
) -> list[str]:
    """Tag the trial's MLflow run(s); returns their ids ([] where the trial opened none)."""
    if not s.tracking:
        return []
    from rl_harness.tracking import runs as tracking

    return tracking.update_runs(
        s.experiment,
        {"optuna.study": s.study_name, "optuna.trial": str(number)},
        tags,
        end_running,
    )


def failed_run(s: SweepState, trial: FrozenTrial, tags: dict[str, str], error: str) -> None:
    """A trial that failed before its run opened (e.g. the model could not be built) still
    gets a FAILED child run under the sweep, with its parameters and error."""
    from rl_harness.tracking import runs as tracking
    from rl_harness.tuning.job import trial_name

    own = {"optuna.study": s.study.study_name, "optuna.trial": str(trial.number)}
    if parent := s.study.user_attrs.get("mlflow_parent_run_id"):
        own["mlflow.parentRunId"] = parent
    tracking.failed_run(s.experiment, trial_name(trial), {**own, **tags}, trial.params, error)
