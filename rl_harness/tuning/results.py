"""What a finished sweep hands back: the table of its trials, and the best trial's
hyperparameters as a `conf/hparams/<algo>_<env>.yaml` that training reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from rl_harness.common import tables
from rl_harness.tuning.reuse import REUSED, new_timesteps
from rl_harness.tuning.space import Param
from rl_harness.tuning.units import seed_results


def best_hparams(job_cfg: DictConfig, params: list[Param]) -> dict[str, Any]:
    """What `conf/hparams/<algo>_<env>.yaml` holds: budget, n_envs, the algorithm's arguments
    (as the best trial ran them), and any other searched key."""
    out: dict[str, Any] = {"n_timesteps": job_cfg.n_timesteps, "n_envs": job_cfg.n_envs}
    for p in params:
        if not p.path.startswith("algo."):
            node = out
            *parents, last = p.path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = OmegaConf.select(job_cfg, p.path)
            if OmegaConf.is_config(node[last]):
                node[last] = OmegaConf.to_container(node[last], resolve=True)
    algo = cast(
        dict, OmegaConf.to_container(job_cfg.algo, resolve=True)
    )  # not `hydra`: needs a job
    out["algo"] = {k: v for k, v in algo.items() if k != "name"}
    return out


def write_hparams(values: dict[str, Any], path: Path, header: str) -> Path:
    body = OmegaConf.to_yaml(OmegaConf.create(values))
    lines = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(f"# @package _global_\n{lines}{body}")
    return path


def summary(study: optuna.Study, params: list[Param]) -> str:
    """A text table of the study's trials, then the counts by state and the best trial."""
    trials = study.get_trials(deepcopy=False)
    names = [p.path.removeprefix("algo.") for p in params]
    rows = [
        [
            t.number,
            t.state.name + (" (retried)" if t.user_attrs.get("interrupted") else ""),
            _short(last_value(t), ".4g"),
            trial_timesteps(t) or "",
            *[_short(t.params.get(p.path)) for p in params],
        ]
        for t in trials
    ]
    table = tables.text(
        ["#", "state", "value", "timesteps", *names], rows, "rlrr" + "l" * len(names)
    )
    n = counts(trials)
    lines = [
        table,
        f"{n['complete']} complete, {n['pruned']} pruned, {n['fail']} failed, "
        f"{n['running']} running; {n['timesteps']} timesteps in all",
    ]
    try:
        best = study.best_trial
        lines.append(f"best: trial {best.number}, value {best.value:.4g}")
    except ValueError:
        lines.append("best: none (no trial completed)")
    return "\n".join(lines)


def counts(
    trials: list[FrozenTrial], jobs: dict[str, dict[str, Any]] | None = None
) -> dict[str, int]:
    """Trials by state (`complete`, `pruned`, `fail`, ...) and `timesteps` spent in all, by the
    trials' seeds and by the validation `jobs` (units.job_results; a reused run trains none:
    `reused_runs` counts them)."""
    out = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    out["timesteps"] = sum(trial_timesteps(t) for t in trials)
    out["validation_timesteps"] = sum(new_timesteps(r) for r in (jobs or {}).values())
    out["reused_runs"] = sum(bool(r.get(REUSED)) for r in (jobs or {}).values())
    return out


def trial_timesteps(t: FrozenTrial) -> int:
    """Timesteps a trial trained, over all its seeds."""
    if done := seed_results(t):
        return sum(int(r.get("timesteps", 0)) for r in done.values())
    return int(t.user_attrs.get("timesteps", 0))


def last_value(t: FrozenTrial) -> float | None:
    """The trial's value, or its last reported one (pruned, failed, running trials)."""
    if t.value is not None:
        return t.value
    return t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None


def _short(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return ""
    return format(v, spec) if isinstance(v, float) else str(v)
