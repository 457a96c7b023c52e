"""Optuna studies ↔ Hydra configs: search spaces, samplers, pruners, storages, the trial's side.

A sweep is "many runs with overrides + a report callback". The Hydra sweeper plugin
(`hydra_plugins/rl_harness_sweeper`) asks Optuna for a trial, turns its parameters into overrides
with `overrides`, and launches a normal job. In that job `job_hooks` rebuilds the trial from the
`optuna.*` overrides, so `TrialReport` can report each periodic evaluation and stop training
when the pruner says so; `record_result` puts the run id and timesteps on the trial.

A search space is YAML under `hydra.sweeper.space`, nested like the config it samples:

    algo:
      learning_rate: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
      n_epochs: {type: int, low: 1, high: 20}
      policy_kwargs:
        net_arch: {type: categorical, choices: {small: [64, 64], large: [256, 256]}}

A mapping with a `type` key is one hyperparameter; its path is the Hydra override key and the
Optuna parameter name. Structured choices (lists, mappings) are given names: the mapping's keys,
or the compact JSON of each value.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState
from stable_baselines3.common.callbacks import BaseCallback

from rl_harness.build import registry as algos
from rl_harness.common import processes
from rl_harness.errors import ConfigError

SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
}
PRUNERS = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "threshold": "ThresholdPruner",
    "none": "NopPruner",
}
SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
# Trial user attributes that take a trial out of the study's count (it is run again).
NOT_COUNTED = ("interrupted", "surplus")


# ---------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its config path, its Optuna distribution, and named choices."""

    path: str
    distribution: BaseDistribution
    values: dict[str, Any] | None = None  # choice name → structured value

    def value(self, sampled: Any) -> Any:
        return self.values[sampled] if self.values is not None else sampled


def parse_space(space: Any, cfg: DictConfig) -> list[Param]:
    """Check a search space against the composed config and the algorithm's signature.

    Raises ConfigError naming the offending entry, before any trial runs.
    """
    plain = OmegaConf.to_container(space, resolve=True) if OmegaConf.is_config(space) else space
    if not isinstance(plain, dict) or not plain:
        raise ConfigError(
            "hydra.sweeper.space is empty: give at least one hyperparameter "
            "(see conf/sweep/ppo.yaml)"
        )
    cls = algos.get_class(cfg.algo.name)
    params = [_parse_spec(path, spec) for path, spec in _leaves(plain, "")]
    for p in params:
        _check_path(p.path, cfg, cls)
    return params


def _leaves(node: dict, prefix: str) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and "type" in value:
            out.append((path, value))
        elif isinstance(value, dict) and value:
            out.extend(_leaves(value, f"{path}."))
        else:
            raise ConfigError(
                f"hydra.sweeper.space.{path}: expected a mapping with a type "
                f"(float, int or categorical), got {value!r}"
            )
    return out


def _parse_spec(path: str, spec: dict) -> Param:
    where = f"hydra.sweeper.space.{path}"
    kind = spec.get("type")
    if kind not in SPEC_KEYS:
        raise ConfigError(f"{where}: unknown type {kind!r}; use float, int or categorical")
    if unknown := sorted(set(spec) - SPEC_KEYS[kind]):
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} for type {kind}; "
            f"accepted: {', '.join(sorted(SPEC_KEYS[kind]))}"
        )
    if kind == "categorical":
        return _categorical(path, where, spec.get("choices"))
    low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
    log = bool(spec.get("log"))
    number, what = ((int,), "an integer") if kind == "int" else ((int, float), "a number")
    for name, v in (("low", low), ("high", high), ("step", step)):
        if (v is not None or name != "step") and (not isinstance(v, number) or isinstance(v, bool)):
            raise ConfigError(f"{where}: {name} must be {what}, got {v!r}")
    if low > high:
        raise ConfigError(f"{where}: low ({low}) > high ({high})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log scale needs low > 0, got {low}")
    if log and step is not None:
        raise ConfigError(f"{where}: step and log cannot be combined")
    if kind == "int":
        return Param(path, IntDistribution(low, high, log=log, step=step or 1))
    return Param(path, FloatDistribution(float(low), float(high), log=log, step=step))


def _categorical(path: str, where: str, choices: Any) -> Param:
    if isinstance(choices, dict):
        named = {str(k): v for k, v in choices.items()}
    elif isinstance(choices, list):
        if all(_scalar(c) for c in choices):
            if not choices:
                raise ConfigError(f"{where}: choices is empty")
            return Param(path, CategoricalDistribution(choices))
        named = {json.dumps(c, separators=(",", ":")): c for c in choices}
    else:
        raise ConfigError(
            f"{where}: choices must be a list or a mapping of names to values, got {choices!r}"
        )
    if not named:
        raise ConfigError(f"{where}: choices is empty")
    return Param(path, CategoricalDistribution(list(named)), named)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _check_path(path: str, cfg: DictConfig, cls: type) -> None:
    where = f"hydra.sweeper.space.{path}"
    head, _, rest = path.partition(".")
    if head == "algo":
        key = rest.split(".")[0]
        if key == "name":
            raise ConfigError(f"{where}: the algorithm is chosen with algo=, not searched")
        try:
            algos.check_keys(cfg.algo.name, cls, [key])
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    elif head in ("hydra", "optuna"):
        raise ConfigError(f"{where}: {head}.* cannot be searched")
    elif OmegaConf.select(cfg, path, default="<missing>") == "<missing>":
        raise ConfigError(
            f"{where}: '{path}' is not a key of the composed config "
            "(searchable: algo.<constructor argument> and existing config keys)"
        )


def distributions(params: list[Param]) -> dict[str, BaseDistribution]:
    return {p.path: p.distribution for p in params}


def overrides(params: list[Param], sampled: dict[str, Any]) -> list[str]:
    """Hydra overrides for a trial's parameters (`++` so keys the YAML lacks are added)."""
    return [
        f"++{p.path}={hydra_value(p.value(sampled[p.path]))}" for p in params if p.path in sampled
    ]


def hydra_value(v: Any) -> str:
    """A Python value in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, list | tuple):
        return "[" + ",".join(hydra_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{hydra_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} as a Hydra override")


# ---------------------------------------------------------------- samplers, pruners, storage


def _plain(spec: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.create(spec or {}), resolve=True)  # type: ignore


def _build(
    kind: str, table: dict[str, str], module: Any, spec: dict[str, Any], **common: Any
) -> Any:
    """`{name: median, median: {n_warmup_steps: ...}, hyperband: {...}}` → MedianPruner(...).

    Arguments are kept per class, so switching `name` never carries another class's arguments.
    """
    name = spec.get("name")
    if name not in table:
        raise ConfigError(f"hydra.sweeper.{kind}.name={name!r} is not one of: {', '.join(table)}")
    if unknown := sorted(set(spec) - {"name", *common, *table}):
        raise ConfigError(
            f"hydra.sweeper.{kind}: unknown key(s) {', '.join(unknown)}; give a "
            f"class's arguments under its name, e.g. {kind}.{name}.<argument>"
        )
    kwargs = spec.get(name) or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"hydra.sweeper.{kind}.{name} must be a mapping of arguments")
    cls = getattr(module, table[name])
    accepted = set(inspect.signature(cls).parameters)
    if bad := sorted(set(kwargs) - accepted):
        raise ConfigError(
            f"hydra.sweeper.{kind}.{name}: {table[name]} does not accept "
            f"{', '.join(bad)}; accepted: {', '.join(sorted(accepted))}"
        )
    kwargs = {k: v for k, v in common.items() if k in accepted} | kwargs
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, ImportError) as e:
        raise ConfigError(
            f"hydra.sweeper.{kind}: cannot make {name}: {e}".splitlines()[0]
        ) from None


def make_sampler(
    spec: Any, seed_offset: int = 0, parallel: bool = False
) -> optuna.samplers.BaseSampler:
    """tpe (default), random, cmaes, gp or qmc, with `seed` and the class's own arguments.

    `seed_offset` keeps parallel workers and resumed sessions from replaying the same draws.
    """
    spec = _plain(spec) or {"name": "tpe"}
    seed = spec.get("seed")
    common: dict[str, Any] = {"seed": None if seed is None else int(seed) + seed_offset}
    if parallel:  # TPE: pending trials count as bad, so workers do not pick the same point
        common["constant_liar"] = True
    return _build("sampler", SAMPLERS, optuna.samplers, spec, **common)


def make_pruner(spec: Any) -> optuna.pruners.BasePruner:
    """median, percentile, successive_halving, hyperband, threshold or none."""
    return _build("pruner", PRUNERS, optuna.pruners, _plain(spec) or {"name": "none"})


def storage_url(url: str) -> str:
    """SQLAlchemy 2.1 reads `postgresql://` as psycopg 3; name psycopg2 when only it is there."""
    if url.startswith("postgresql://"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


@lru_cache(maxsize=4)
def open_storage(url: str, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """An RDB URL (PostgreSQL, MySQL, SQLite) or a journal file path (the one-machine default)."""
    if "://" in url:
        kwargs = (
            {"heartbeat_interval": heartbeat, "grace_period": 4 * heartbeat} if heartbeat else {}
        )
        return optuna.storages.RDBStorage(storage_url(url), **kwargs)
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(
        JournalFileBackend(url, lock_obj=JournalFileOpenLock(url))
    )


def redact(url: str) -> str:
    """The storage URL without its password, for tags and messages."""
    if "://" in url and "@" in url:
        scheme, _, rest = url.partition("://")
        creds, _, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


# ---------------------------------------------------------------- trial bookkeeping


def owner() -> str:
    """host:pid:start — identifies this process even after its pid is reused."""
    return processes.identity()


def owner_alive(tag: str | None) -> bool | None:
    """Whether the process that owns a trial still runs; None when that cannot be told here
    (another host, or a trial asked a moment ago whose owner is not recorded yet)."""
    return processes.identity_alive(tag)


def counted(trials: list[FrozenTrial]) -> int:
    """Trials that count towards n_trials: all asked ones but those to be run again."""
    return sum(
        1
        for t in trials
        if t.state != TrialState.WAITING and not any(t.user_attrs.get(k) for k in NOT_COUNTED)
    )


def fail_orphans(study: optuna.Study, retry: bool) -> list[FrozenTrial]:
    """Mark FAIL the running trials whose process died (killed, machine lost); retry them."""
    if isinstance(study._storage, optuna.storages.RDBStorage):
        with warnings.catch_warnings():  # "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # heartbeats: trials of any machine
    orphans = []
    for t in study.get_trials(deepcopy=False):
        stale_by_heartbeat = (
            t.state == TrialState.FAIL and "owner" in t.user_attrs and "error" not in t.user_attrs
        )
        if stale_by_heartbeat or (
            t.state == TrialState.RUNNING and owner_alive(t.user_attrs.get("owner")) is False
        ):
            mark_interrupted(study, t, "its worker process died", retry)
            orphans.append(t)
    return orphans


def mark_interrupted(study: optuna.Study, t: FrozenTrial, why: str, retry: bool) -> None:
    storage = study._storage
    storage.set_trial_user_attr(t._trial_id, "error", f"interrupted: {why}")
    storage.set_trial_user_attr(t._trial_id, "interrupted", True)
    if t.state == TrialState.RUNNING:
        try:
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
    if retry and t.params:
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})


# ---------------------------------------------------------------- the job's side


class TrialReport(BaseCallback):
    """After each evaluation: report the mean return to the trial; stop if it should be pruned.

    A non-finite mean return stops training too; the sweeper records the trial as failed.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.pruned_at: int | None = None
        self.non_finite_at: int | None = None

    def _on_step(self) -> bool:
        value = float(self.parent.last_mean_reward)
        step = int(self.num_timesteps)
        if not math.isfinite(value):
            self.non_finite_at = step
            self.trial.set_user_attr("error", f"evaluation returned {value} at step {step}")
            return False
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned_at = step
            self.trial.set_user_attr("pruned_at", step)
            return False
        return True


def is_trial(cfg: DictConfig) -> bool:
    """Whether this job is a trial launched by the Optuna sweeper."""
    return cfg.get("optuna") is not None


def job_hooks(cfg: DictConfig) -> dict[str, Any]:
    """`train.run` keywords for a sweep trial (tags, report callback); {} for a normal run."""
    if not is_trial(cfg):
        return {}
    from hydra.core.hydra_config import HydraConfig

    pruner = HydraConfig.get().sweeper.get("pruner") if HydraConfig.initialized() else None
    study = optuna.load_study(
        study_name=cfg.optuna.study,
        storage=open_storage(str(cfg.optuna.storage)),
        pruner=make_pruner(pruner),
    )
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(
        study._study_id, int(cfg.optuna.trial)
    )
    trial = optuna.trial.Trial(study, trial_id)
    tags = {"optuna.study": study.study_name, "optuna.trial": str(trial.number)}
    if parent := study.user_attrs.get("mlflow_parent_run_id"):
        tags["mlflow.parentRunId"] = parent
    return {"run_tags": tags, "after_eval": [TrialReport(trial)]}


def record_result(hooks: dict[str, Any], result: dict[str, Any]) -> None:
    """Put the run id and timesteps spent on the trial, for the sweeper and its summary."""
    for cb in hooks.get("after_eval", []):
        if isinstance(cb, TrialReport):
            if result.get("run_id"):
                cb.trial.set_user_attr("mlflow_run_id", result["run_id"])
            cb.trial.set_user_attr("timesteps", int(result["timesteps"]))


# ---------------------------------------------------------------- results


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
    algo = OmegaConf.to_container(job_cfg.algo, resolve=True)  # not `hydra`: needs a job
    out["algo"] = {k: v for k, v in algo.items() if k != "name"}
    return out


def write_hparams(values: dict[str, Any], path: Path, header: str) -> Path:
    body = OmegaConf.to_yaml(OmegaConf.create(values))
    lines = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(f"# @package _global_\n{lines}{body}")
    return path


def summary(study: optuna.Study, params: list[Param]) -> str:
    """A plain-text table of the study's trials, best first among completed ones."""
    trials = study.get_trials(deepcopy=False)
    names = [p.path.removeprefix("algo.") for p in params]
    head = ["#", "state", "value", "timesteps", *names]
    rows = []
    for t in trials:
        state = t.state.name + (" (retried)" if t.user_attrs.get("interrupted") else "")
        value = (
            t.value
            if t.value is not None
            else (
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
            )
        )
        rows.append(
            [
                str(t.number),
                state,
                "" if value is None else f"{value:.4g}",
                str(t.user_attrs.get("timesteps", "")),
                *[_short(t.params.get(p.path)) for p in params],
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'>' if i in (0, 2, 3) else '<'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    states = {s: sum(t.state == s for t in trials) for s in TrialState}
    spent = sum(int(t.user_attrs.get("timesteps", 0)) for t in trials)
    lines.append(
        f"{states[TrialState.COMPLETE]} complete, {states[TrialState.PRUNED]} pruned, "
        f"{states[TrialState.FAIL]} failed, {states[TrialState.RUNNING]} running; "
        f"{spent} timesteps in all"
    )
    try:
        best = study.best_trial
        lines.append(f"best: trial {best.number}, value {best.value:.4g}")
    except ValueError:
        lines.append("best: none (no trial completed)")
    return "\n".join(lines)


def _short(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)
