"""Trial bookkeeping shared by a sweep's workers: who owns a trial, which trials count towards
`n_trials`, and failing (then queueing again) the trials of processes that died.

User attributes a trial can carry:
    owner        host:pid:start of the worker running it (set when asked; processes.Identity)
    interrupted  its process died or was stopped: it does not count and is queued again
    surplus      asked by two machines at once past n_trials: failed at once, does not count
    retry_of     the number of the trial it runs again
    seeds, seed.<s>   its tuning seeds and their results (units.py): a retry keeps them
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from rl_harness.common import processes
from rl_harness.tuning import storage as storages

# Trial user attributes that take a trial out of the study's count (it is run again).
NOT_COUNTED = ("interrupted", "surplus")


def counted(trials: list[FrozenTrial]) -> int:
    """Trials that count towards n_trials: all asked ones but those to be run again."""
    return sum(
        1
        for t in trials
        if t.state != TrialState.WAITING and not any(t.user_attrs.get(k) for k in NOT_COUNTED)
    )


def fail_orphans(
    study: optuna.Study, storage: optuna.storages.BaseStorage, retry: bool
) -> list[FrozenTrial]:
    """Mark FAIL the running trials whose process died (killed, machine lost); retry them.

    `storage` is the one the study was opened on (see storage.open_storage).
    """
    with warnings.catch_warnings():  # "experimental" since Optuna 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # RDB heartbeats: trials of any machine
    orphans = []
    for t in study.get_trials(deepcopy=False):
        ours = "owner" in t.user_attrs or "seeds" in t.user_attrs
        stale_by_heartbeat = (
            t.state == TrialState.FAIL
            and ours
            and not any(k in t.user_attrs for k in ("error", *NOT_COUNTED))
        )
        dead = processes.identity_alive(t.user_attrs.get("owner")) is False
        if stale_by_heartbeat or (t.state == TrialState.RUNNING and dead):
            mark_interrupted(study, storage, t, "its worker process died", retry)
            orphans.append(t)
    return orphans


def mark_interrupted(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    t: FrozenTrial,
    why: str,
    retry: bool,
) -> None:
    """Fail a trial that did not finish, keep it out of the count, and queue it again."""
    tid = storages.trial_id(storage, study.study_name, t.number)
    storage.set_trial_user_attr(tid, "error", f"interrupted: {why}")
    storage.set_trial_user_attr(tid, "interrupted", True)
    if t.state == TrialState.RUNNING:
        try:
            storage.set_trial_state_values(tid, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
    if retry and t.params:
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, **carried_attrs(t)})


def carried_attrs(trial: FrozenTrial) -> dict[str, Any]:
    """What a retried trial keeps of the one it replaces: its seeds and their results."""
    attrs = trial.user_attrs
    if "seeds" not in attrs:
        return {}
    done = {f"seed.{s}": attrs[f"seed.{s}"] for s in attrs["seeds"] if f"seed.{s}" in attrs}
    return {"seeds": attrs["seeds"], **done}
