"""The incumbent's validation runs, reused where an identical one already finished: every
validated sweep of one algorithm and env trains the shipped config on the same test seeds, and
on CPU a run repeats exactly (same config, seed, code and package versions: issue 39), so
training it again in each study only spends timesteps on numbers already known.

    incumbent job ─▶ a FINISHED incumbent run in the experiment with
                       the same seed and resolved config (optuna.*, mlflow.*, progress_bar,
                         verbose, checkpoint.* aside: rerun.NEUTRAL),
                       the same commit, a clean checkout now and then, the same Python and
                         `version.*` packages (rerun.code_drift), the same user code and env
                         package,
                       and its scores (tag `optuna.scores`, set when it finished)
                 ─▶ found: its scores are the job's result, with `reused` = its run id, and no
                    new run and no timesteps; else the job trains as before.

Only the incumbent: a re-test is of a trial just tuned, so nothing like it has run before.
With uncommitted changes nothing is reused (the diff would have to be compared too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from rl_harness.common import provenance
from rl_harness.training import rerun, resume

SCORES_TAG = "optuna.scores"  # the job's scores (objective.scores), JSON
REUSED = "reused"  # in a job's result: the run it was taken from
# Keys of a job's config that do not change what it learns (beside rerun.NEUTRAL).
NOT_COMPARED = ("optuna.", "resume", "hydra.")


def keep_scores(run_id: str, scores: Mapping[str, Any]) -> None:
    """Tag a finished incumbent run with its scores, for later sweeps to reuse."""
    from rl_harness.tracking import runs as tracking

    kept = {k: v for k, v in scores.items() if k != REUSED}
    tracking.client().set_tag(run_id, SCORES_TAG, json.dumps(kept))


def new_timesteps(result: Mapping[str, Any]) -> int:
    """Timesteps a validation job trained: none where its run was reused."""
    return 0 if result.get(REUSED) else int(result.get("timesteps", 0))


def finished_twin(cfg: DictConfig, experiment: str) -> dict[str, Any] | None:
    """The result of an identical finished incumbent run of `cfg` (module docstring), with
    `reused` = its run id; None where there is none or the checkout is not clean."""
    git = provenance.git_state()
    if git.dirty is not False or not git.commit:
        return None
    from rl_harness.tracking import runs as tracking

    match = {
        "optuna.stage": "incumbent",
        "optuna.seed": str(cfg.seed),
        provenance.COMMIT_TAG: git.commit,
        provenance.DIRTY_TAG: "false",
    }
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in match.items())
    found = tracking.search_runs([experiment], where, limit=20)
    if not found:
        return None
    now = {**provenance.facts(git=git), **provenance.user_code(str(cfg.env.id))}
    for run in found:
        tags = run.data.tags
        if not (scores := tags.get(SCORES_TAG)) or tags.get("resume.exact") == "false":
            continue
        if rerun.code_drift(provenance.from_tags(tags), now) or _user_drift(tags, now):
            continue
        if config_drift(resume.stored_config(tracking.client(), run.info.run_id, "reuse"), cfg):
            continue
        return {**json.loads(scores), "run_id": run.info.run_id, REUSED: run.info.run_id}
    return None


def _user_drift(tags: Mapping[str, str], now: Mapping[str, str]) -> bool:
    """The user's code (working repository, env package) differs, or was not committed."""
    keys = (
        provenance.USER_COMMIT_TAG,
        provenance.USER_DIRTY_TAG,
        provenance.ENV_PACKAGE_TAG,
        provenance.ENV_VERSION_TAG,
    )
    return now.get(provenance.USER_DIRTY_TAG) == "true" or any(
        tags.get(k) != now.get(k) for k in keys
    )


def config_drift(recorded: DictConfig, cfg: DictConfig) -> list[str]:
    """The resolved config's keys whose values differ, but those that do not change what is
    learnt (rerun.NEUTRAL, NOT_COMPARED)."""
    a, b = _flat(recorded), _flat(cfg)
    return sorted(
        k
        for k in set(a) | set(b)
        if a.get(k) != b.get(k) and not f"{k}.".startswith((*rerun.NEUTRAL, *NOT_COMPARED))
    )


def _flat(cfg: DictConfig) -> dict[str, Any]:
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)  # the launcher's, not the job's
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    from rl_harness.tracking.runs import flatten

    return flatten({str(k): v for k, v in plain.items()})
