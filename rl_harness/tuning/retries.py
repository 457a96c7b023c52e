"""A job run again after its worker died or was stopped continues the earlier attempt's MLflow
run from that run's newest checkpoint — uploaded to the tracking server where
`checkpoint.upload` is on, so on any machine: same run id, its curves go on, and the steps
already trained are not trained again. Without a checkpoint (`checkpoint.freq=0`, a sweep's
default, or killed before the first one) the job starts over as a new run.

The earlier attempt is found by its run's tags, which every sweep job sets: a trial's run
carries `optuna.study` and `optuna.trial` (and `optuna.seed` with k > 1 seeds), a validation
job's `optuna.stage`, `optuna.seed` (and `optuna.retest_of`). A k = 1 trial queued again is a
new trial (`retry_of` the dead one), whose run carries the dead trial's number until resumed.
"""

from __future__ import annotations

import time

from rl_harness.common import liveness
from rl_harness.errors import ConfigError
from rl_harness.tuning.units import Unit

# How long to wait for a RUNNING run of a lost machine to be judged dead by its heartbeat.
PATIENCE_S = (liveness.STALE_AFTER + 1) * liveness.INTERVAL_S
POLL_S = 5.0


def earlier_attempts(study: str, unit: Unit, retry_of: int | None) -> list[dict[str, str]]:
    """The tag sets whose runs are earlier attempts at `unit` (none for a first attempt)."""
    base = {"optuna.study": study}
    if unit.stage != "trial":
        own = {**base, "optuna.stage": unit.stage, "optuna.seed": str(unit.seed)}
        return [{**own, "optuna.retest_of": str(unit.trial)} if unit.trial is not None else own]
    if unit.k == 1:
        return [] if retry_of is None else [{**base, "optuna.trial": str(retry_of)}]
    seed = {"optuna.seed": str(unit.seed)}
    numbers = [n for n in (unit.trial, retry_of) if n is not None]
    return [{**base, "optuna.trial": str(n), **seed} for n in numbers]


def run_to_continue(
    experiment: str, attempts: list[dict[str, str]], patience: float = PATIENCE_S
) -> tuple[str | None, str]:
    """(the newest earlier attempt's run id, "") where it can be resumed, else (None, why not;
    "" when there was no earlier attempt)."""
    from rl_harness.tracking import runs
    from rl_harness.training import resume

    # The newest run of the first match that has any: a k > 1 trial's own seed run before its
    # retry's; later matches are not searched once one has a run.
    runs_found = (r for match in attempts for r in runs.unfinished_runs(experiment, match))
    run_id = next(runs_found, None)
    if run_id is None:
        return None, ""
    deadline = time.monotonic() + patience
    while True:
        try:
            resume.find(run_id)
            return run_id, ""
        except resume.StillRunning as e:
            if time.monotonic() > deadline:
                return None, str(e)
            time.sleep(POLL_S)
        except ConfigError as e:
            return None, str(e)
