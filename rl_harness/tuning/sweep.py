"""Optuna studies ↔ Hydra configs, one module per job; this module names them all in one place.

A sweep is "many runs with overrides + a report callback". The Hydra sweeper plugin
(`hydra_plugins/rl_harness_sweeper`) asks Optuna for a trial, turns its parameters into overrides,
and launches a normal job, which rebuilds the trial and reports to it:

    sweeper (plugin)                                     job (rl_harness.__main__)
    ────────────────                                     ─────────────────────────
    space.parse_space      search space → [Param]
    storage.open_storage   journal file or RDB URL
    search.make_sampler/make_pruner
    versions.check/record  a study continues under the Optuna major that started it
    trials.fail_orphans    dead workers' trials: FAIL, queued again
    units: a trial's k seeds, then validation jobs, taken by free workers
    retries.run_to_continue  a job run again: resume= the earlier attempt's run
    study.ask → space.overrides ──── +optuna.study/storage/trial/job ─▶ job.job_hooks → TrialReport
                                                                     job.job_result → scores
    study.tell ◀── objective.aggregate of the seeds' scores; trial attrs (pruned_at, error) ──┘
    results.summary, results.best_hparams → summary.txt, best_hparams.yaml
    validation.report: top trials re-tested on unseen seeds, champion vs incumbent → promote?
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from rl_harness.tuning.job import TrialReport, is_trial, job_hooks, job_result
from rl_harness.tuning.objective import aggregate
from rl_harness.tuning.objective import check as check_objective
from rl_harness.tuning.results import best_hparams, counts, last_value, summary, write_hparams
from rl_harness.tuning.search import PRUNERS, SAMPLERS, make_pruner, make_sampler
from rl_harness.tuning.space import (
    SPEC_KEYS,
    Param,
    check_resumable,
    distributions,
    hydra_value,
    largest,
    overrides,
    parse_space,
)
from rl_harness.tuning.storage import (
    heartbeat,
    open_storage,
    redact,
    serialised,
    storage_url,
    study_lock,
    trial_id,
)
from rl_harness.tuning.trials import (
    NOT_COUNTED,
    counted,
    fail_orphans,
    mark_interrupted,
    owner,
    owner_alive,
)
from rl_harness.tuning.units import (
    Unit,
    claim,
    job_results,
    kept,
    open_job,
    open_trial_seed,
    record,
    release,
    seed_results,
    seeds,
    stranded,
)
from rl_harness.tuning.validation import check_seeds, decide
from rl_harness.tuning.validation import report as validation_report
from rl_harness.tuning.validation import settings as validation_settings
from rl_harness.tuning.validation import units as validation_units
from rl_harness.tuning.versions import check as check_optuna
from rl_harness.tuning.versions import record as record_sampling
from rl_harness.tuning.versions import sampling
from rl_harness.tuning.versions import tags as sampling_tags

__all__ = [
    "FrozenTrial",
    "NOT_COUNTED",
    "PRUNERS",
    "Param",
    "SAMPLERS",
    "SPEC_KEYS",
    "TrialReport",
    "TrialState",
    "Unit",
    "aggregate",
    "best_hparams",
    "check_objective",
    "check_optuna",
    "check_resumable",
    "check_seeds",
    "claim",
    "counted",
    "counts",
    "decide",
    "distributions",
    "fail_orphans",
    "heartbeat",
    "hydra_value",
    "is_trial",
    "job_hooks",
    "job_result",
    "job_results",
    "kept",
    "largest",
    "last_value",
    "make_pruner",
    "make_sampler",
    "mark_interrupted",
    "open_job",
    "open_storage",
    "open_trial_seed",
    "overrides",
    "owner",
    "owner_alive",
    "parse_space",
    "record",
    "record_sampling",
    "redact",
    "release",
    "sampling",
    "sampling_tags",
    "seed_results",
    "seeds",
    "serialised",
    "storage_url",
    "stranded",
    "study_lock",
    "summary",
    "trial_id",
    "validation_report",
    "validation_settings",
    "validation_units",
    "write_hparams",
]
