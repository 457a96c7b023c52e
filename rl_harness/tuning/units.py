"""Who runs what: a sweep's work is seed jobs — each trial's k tuning seeds, then the re-tests
of the best trials and the incumbent's runs on the test seeds — taken by whichever worker is
free, so a trial's seeds run side by side only when there is nothing else to run.

Claims and results live in the Optuna storage, where every worker sees them:

    trial user attrs   seeds                 the trial's tuning seeds (k > 1)
                       seed.<s>.owner        host:pid:start of the worker running seed s
                       seed.<s>              its scores (objective.scores) or {"error": ...}
    study user attrs   job.<label>.owner     the same for a validation job
                       job.<label>

A claim is `host:pid:start@<unix time>` (processes.Identity and a heartbeat), renewed by the
worker's heartbeat while its job runs (`kept_claim`, an action of common.liveness.heartbeat). A
claim whose owner died or was stopped is open again: on the owner's machine the process table
tells; from another machine, a claim gone stale by the heartbeat rule (its machine was lost).
A result is never redone. Claims are taken under the sweep's lock (locks.py): every machine's
workers where the study is on PostgreSQL (storage.study_lock), one machine's elsewhere. k = 1
trials are owned by the trial's `owner` attribute as before
(trials.fail_orphans), and Optuna's RDB heartbeats fail those of a lost machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from rl_harness.common import liveness
from rl_harness.common.processes import identity, identity_alive
from rl_harness.tuning import storage as storages


@dataclass(frozen=True)
class Unit:
    """One job: `stage` trial (seed `seed` of trial `trial`, at `index` among its seeds),
    retest (trial `trial` on test seed `seed`) or incumbent (the shipped config on `seed`)."""

    stage: str
    seed: int
    trial: int | None = None
    index: int = 0
    k: int = 1

    @property
    def sets_seed(self) -> bool:
        """Whether the job gets its own `seed=` (one-seed trials keep the command's seed)."""
        return self.stage != "trial" or self.k > 1

    @property
    def label(self) -> str:
        """The job's name: its Hydra subdir and, with `-` for `_`, its MLflow run name."""
        if self.stage == "trial":
            return f"trial_{self.trial}" + (f"_s{self.seed}" if self.k > 1 else "")
        if self.stage == "retest":
            return f"retest_t{self.trial}_s{self.seed}"
        return f"incumbent_s{self.seed}"


def seeds(base: int, n: int) -> list[int]:
    return [base + i for i in range(n)]


def _open(claim: str | None, now: float | None = None) -> bool:
    """Nobody runs it: never claimed, released, its owner died here, or its owner's machine
    stopped renewing it."""
    if not claim:
        return True
    who, _, beat = claim.partition("@")
    alive = identity_alive(who)
    if alive is not None:
        return not alive
    # a claim from before renewals (no beat), on another machine: cannot tell, not open
    return liveness.stale(beat or None, now) is not None


def open_trial_seed(trial: FrozenTrial, k: int, in_turn: bool = False) -> Unit | None:
    """The first seed of a running k-seed trial that has no result and nobody running it;
    `in_turn` (raced seeds, race.py): only once every earlier seed has its result."""
    attrs = trial.user_attrs
    if trial.state != TrialState.RUNNING or "seeds" not in attrs or attrs.get("pruned_at"):
        return None
    for i, s in enumerate(attrs["seeds"]):
        if f"seed.{s}" in attrs:
            continue
        if _open(attrs.get(f"seed.{s}.owner")):
            return Unit("trial", s, trial.number, i, k)
        if in_turn:
            return None  # an earlier seed still runs
    return None


def seed_open(trial: FrozenTrial, seed: int) -> bool:
    """Seed `seed` of the trial has no result and nobody running it."""
    attrs = trial.user_attrs
    return f"seed.{seed}" not in attrs and _open(attrs.get(f"seed.{seed}.owner"))


def stranded(trial: FrozenTrial) -> bool:
    """A running trial whose seeds all have results but which was never told (its last worker
    died in between): whoever sees it ends it."""
    seeds_ = trial.user_attrs.get("seeds")
    return bool(
        trial.state == TrialState.RUNNING
        and seeds_
        and all(f"seed.{s}" in trial.user_attrs for s in seeds_)
    )


def seed_results(trial: FrozenTrial) -> dict[int, dict[str, Any]]:
    """The trial's finished seeds: seed → scores or {"error": ...}."""
    return {
        s: trial.user_attrs[f"seed.{s}"]
        for s in trial.user_attrs.get("seeds", [])
        if f"seed.{s}" in trial.user_attrs
    }


def claim(study: optuna.Study, storage: optuna.storages.BaseStorage, unit: Unit) -> None:
    _set(study, storage, unit, f"{_key(unit)}.owner", f"{identity()}@{time.time():.0f}")


def claimed(unit: Unit) -> bool:
    """Whether the unit is held by a claim (k = 1 trials are held by the trial itself)."""
    return unit.stage != "trial" or unit.k > 1


def kept_claim(
    study: optuna.Study, storage: optuna.storages.BaseStorage, unit: Unit
) -> list[liveness.Action]:
    """The heartbeat action that renews the unit's claim while its job runs, so that other
    machines see it alive (and see it dead once stale); none for a unit held by no claim."""
    return [lambda: claim(study, storage, unit)] if claimed(unit) else []


def release(study: optuna.Study, storage: optuna.storages.BaseStorage, unit: Unit) -> None:
    """Stopped before it finished: open to the next worker or session."""
    _set(study, storage, unit, f"{_key(unit)}.owner", "")


def record(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    unit: Unit,
    result: Mapping[str, Any],
) -> None:
    _set(study, storage, unit, _key(unit), dict(result))


def job_results(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """label → result of every finished validation job."""
    attrs = study.user_attrs
    return {k.removeprefix("job."): v for k, v in attrs.items() if _is_result(k)}


def open_job(study: optuna.Study, units: Iterable[Unit]) -> Unit | None:
    """The first validation job with no result and nobody running it."""
    attrs = study.user_attrs
    for unit in units:
        if f"job.{unit.label}" not in attrs and _open(attrs.get(f"job.{unit.label}.owner")):
            return unit
    return None


def _is_result(key: str) -> bool:
    return key.startswith("job.") and not key.endswith(".owner")


def _key(unit: Unit) -> str:
    return f"seed.{unit.seed}" if unit.stage == "trial" else f"job.{unit.label}"


def _set(
    study: optuna.Study, storage: optuna.storages.BaseStorage, unit: Unit, key: str, value: Any
) -> None:
    if unit.stage == "trial":
        assert unit.trial is not None
        tid = storages.trial_id(storage, study.study_name, unit.trial)
        try:
            storage.set_trial_user_attr(tid, key, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another seed pruned or failed the trial meanwhile: nothing left to record
    else:
        study.set_user_attr(key, value)
