"""Optuna studies ↔ Hydra configs, one module per job; this module names them all in one place.

A sweep is "many runs with overrides + a report callback". The Hydra sweeper plugin
(`hydra_plugins/rl_harness_sweeper`) asks Optuna for a trial, turns its parameters into overrides,
and launches a normal job, which rebuilds the trial and reports to it:

    sweeper (plugin)                                     job (rl_harness.__main__)
    ────────────────                                     ─────────────────────────
    space.parse_space      search space → [Param]
    storage.open_storage   journal file or RDB URL
    search.make_sampler/make_pruner
    trials.fail_orphans    dead workers' trials: FAIL, queued again
    study.ask → space.overrides ──── +optuna.study/storage/trial ───▶ job.job_hooks → TrialReport
                                                                     job.record_result
    study.tell ◀──── return value, trial user attrs (pruned_at, error, timesteps) ────┘
    results.summary, results.best_hparams → summary.txt, best_hparams.yaml
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from rl_harness.tuning.job import TrialReport, is_trial, job_hooks, record_result
from rl_harness.tuning.results import best_hparams, counts, last_value, summary, write_hparams
from rl_harness.tuning.search import PRUNERS, SAMPLERS, make_pruner, make_sampler
from rl_harness.tuning.space import (
    SPEC_KEYS,
    Param,
    distributions,
    hydra_value,
    overrides,
    parse_space,
)
from rl_harness.tuning.storage import heartbeat, open_storage, redact, storage_url, trial_id
from rl_harness.tuning.trials import (
    NOT_COUNTED,
    counted,
    fail_orphans,
    mark_interrupted,
    owner,
    owner_alive,
)

__all__ = [
    "NOT_COUNTED",
    "PRUNERS",
    "SAMPLERS",
    "SPEC_KEYS",
    "FrozenTrial",
    "Param",
    "TrialReport",
    "TrialState",
    "best_hparams",
    "counted",
    "counts",
    "distributions",
    "fail_orphans",
    "heartbeat",
    "hydra_value",
    "is_trial",
    "job_hooks",
    "last_value",
    "make_pruner",
    "make_sampler",
    "mark_interrupted",
    "open_storage",
    "overrides",
    "owner",
    "owner_alive",
    "parse_space",
    "record_result",
    "redact",
    "storage_url",
    "summary",
    "trial_id",
    "write_hparams",
]
