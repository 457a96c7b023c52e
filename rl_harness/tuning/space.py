"""Search spaces: YAML under `hydra.sweeper.space` → Optuna distributions → Hydra overrides.

A search space is nested like the config it samples:

    algo:
      learning_rate: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
      # schedule: linear samples the start of {schedule: linear, start: <x>, end: 0.0}
      n_epochs: {type: int, low: 1, high: 20}
      policy_kwargs:
        net_arch: {type: categorical, choices: {small: [64, 64], large: [256, 256]}}

A mapping with a `type` key is one hyperparameter; its path is the Hydra override key and the
Optuna parameter name. Structured choices (lists, mappings) are given names: the mapping's keys,
or the compact JSON of each value.

Hydra merges a per-env space file (conf/sweep/env/<sweep>_<env>.yaml) over the sweep's. A file
whose space says `_whole_: true` is the whole space instead: only its entries are searched (and
those given on the command line), `whole_space` drops the rest of the merge.

    space YAML ──parse_space──▶ [Param] ──distributions──▶ study.ask(...)
                                   │
    trial.params ───overrides──────┴──▶ ["++algo.learning_rate=0.0003", ...] ──▶ the job
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from rl_harness.build import registry as algos
from rl_harness.errors import ConfigError

SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step", "schedule"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
WHOLE = "_whole_"  # `space: {_whole_: true, ...}`: this file's entries are the whole space


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its config path, its Optuna distribution, and named choices."""

    path: str
    distribution: BaseDistribution
    values: dict[str, Any] | None = None  # choice name → structured value
    schedule: str | None = None  # "linear": the sampled float starts a decay to 0

    def value(self, sampled: Any) -> Any:
        """The config value of a sampled Optuna value (a choice's name → its structure)."""
        if self.schedule is not None:
            return {"schedule": self.schedule, "start": sampled, "end": 0.0}
        return self.values[sampled] if self.values is not None else sampled

    def first(self) -> Any:
        """The low end or the first choice: the trial config the sweep checks up front."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return d.choices[0]
        assert isinstance(d, IntDistribution | FloatDistribution)
        return d.low


def largest(params: list[Param], path: str, default: Any) -> Any:
    """The largest value the search can give `path` (its config value where not searched)."""
    for p in params:
        if p.path == path:
            d = p.distribution
            if isinstance(d, CategoricalDistribution):
                return max(p.value(c) for c in d.choices)
            assert isinstance(d, IntDistribution | FloatDistribution)
            return d.high
    return default


def parse_space(space: Any, cfg: DictConfig) -> list[Param]:
    """Check a search space against the composed config and the algorithm's signature.

    Raises ConfigError naming the offending entry, before any trial runs.
    """
    plain = OmegaConf.to_container(space, resolve=True) if OmegaConf.is_config(space) else space
    if isinstance(plain, dict):
        _check_whole(plain.get(WHOLE, False))
        plain = {k: v for k, v in plain.items() if k != WHOLE}
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


def _check_whole(flag: Any) -> None:
    if not isinstance(flag, bool):
        raise ConfigError(
            f"hydra.sweeper.space.{WHOLE}: must be true (this file's entries are the whole "
            f"space) or false (merged over the sweep's space), got {flag!r}"
        )


def whole_space(space: Any, files: list[Any], given: list[str]) -> Any:
    """The space to search: `space` (as composed) where it does not say `_whole_: true`; else
    only the entries of the file that says it (the first of `files`, each a space as its file
    holds it, that has `_whole_: true`) and those `given` on the command line (paths under
    hydra.sweeper.space, e.g. `algo.gamma` or `algo.gamma.choices`)."""
    plain = OmegaConf.to_container(space, resolve=True) if OmegaConf.is_config(space) else space
    if not isinstance(plain, dict) or WHOLE not in plain:
        return space
    _check_whole(plain[WHOLE])
    if plain[WHOLE] is False:
        return {k: v for k, v in plain.items() if k != WHOLE}
    declaring = next((f for f in files if isinstance(f, dict) and f.get(WHOLE) is True), {})
    keep = {p for p, _ in _leaves(_without_whole(declaring), "")}
    keep |= set(given)
    kept: dict[str, Any] = {}
    for path, spec in _leaves(_without_whole(plain), ""):
        if any(path == k or k.startswith(path + ".") or path.startswith(k + ".") for k in keep):
            node = kept
            *parents, last = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = spec
    return kept


def sweep_space(space: Any, config: DictConfig) -> Any:
    """`whole_space` for a sweep's primary config (with its `hydra` node): the space files are
    the chosen `sweep/env` and `sweep` options in the config sources Hydra searched, the given
    entries those of the command line's `hydra.sweeper.space.*` overrides."""
    plain = OmegaConf.to_container(space, resolve=True) if OmegaConf.is_config(space) else space
    if not isinstance(plain, dict) or WHOLE not in plain:
        return space
    runtime = config.hydra.runtime
    files = []
    for group in ("sweep/env", "sweep"):
        choice = runtime.choices.get(group)
        for source in runtime.config_sources if choice else []:
            path = Path(str(source.path)) / group / f"{choice}.yaml"
            if source.schema == "file" and path.is_file():
                loaded = OmegaConf.load(path)
                files.append(OmegaConf.to_container(loaded, resolve=False))
                break
    spaces = [
        ((f.get("hydra") or {}).get("sweeper") or {}).get("space")
        for f in files
        if isinstance(f, dict)
    ]
    prefix = "hydra.sweeper.space."
    given = [
        o.lstrip("~+").split("=", 1)[0].removeprefix(prefix)
        for o in [*config.hydra.overrides.hydra, *config.hydra.overrides.task]
        if o.lstrip("~+").startswith(prefix)
    ]
    return whole_space(plain, spaces, given)


def _without_whole(space: dict) -> dict:
    return {k: v for k, v in space.items() if k != WHOLE}


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
    low: Any = spec.get("low")
    high: Any = spec.get("high")
    step: Any = spec.get("step")
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
    schedule = spec.get("schedule")
    if schedule not in (None, "linear"):
        raise ConfigError(
            f"{where}: schedule must be linear (decay to 0) or absent, got {schedule!r}"
        )
    if kind == "int":
        return Param(path, IntDistribution(low, high, log=log, step=step or 1))
    distribution = FloatDistribution(float(low), float(high), log=log, step=step)
    return Param(path, distribution, schedule=schedule)


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
    """What `study.ask` takes: parameter name → distribution."""
    return {p.path: p.distribution for p in params}


def overrides(params: list[Param], sampled: dict[str, Any]) -> list[str]:
    """Hydra overrides for a trial's parameters (`++` so keys the YAML lacks are added)."""
    return [
        f"++{p.path}={hydra_value(p.value(sampled[p.path]))}" for p in params if p.path in sampled
    ]


def check_resumable(params: list[Param], trials: list[Any], study: str) -> None:
    """Refuse a space that no longer holds a live trial's parameters: its remaining seeds (or its
    re-test) would run another configuration, or fail mid-study on a dropped choice.

    Live: running, waiting or complete (a complete trial may still be re-tested); failed and
    pruned ones never run again.
    """
    dists = distributions(params)
    for t in trials:
        if t.state not in (TrialState.RUNNING, TrialState.WAITING, TrialState.COMPLETE):
            continue
        # A queued trial (a retry) holds its values as fixed params until a worker starts it; a
        # trial just asked for may not hold all its values yet (another worker is sampling them).
        values = t.params or t.system_attrs.get("fixed_params", {})
        missing = set(dists) - set(values) if t.state == TrialState.COMPLETE else set()
        if diff := sorted((set(values) - set(dists)) | missing):
            problem = f"its parameters differ from this space's in {', '.join(diff)}"
        else:
            bad = [k for k, v in values.items() if not _holds(dists[k], v)]
            if not bad:
                continue
            allowed = _allowed(dists[bad[0]])
            problem = f"{bad[0]}={values[bad[0]]} lies outside this space ({allowed})"
        raise ConfigError(
            f"study '{study}' trial {t.number}: {problem}; resume with the space the study was "
            "started with, or a new hydra.sweeper.study_name"
        )


def _allowed(d: BaseDistribution) -> str:
    if isinstance(d, CategoricalDistribution):
        return f"choices {', '.join(map(str, d.choices))}"
    assert isinstance(d, IntDistribution | FloatDistribution)
    return f"{d.low}..{d.high}"


def _holds(d: BaseDistribution, value: Any) -> bool:
    try:
        return d._contains(d.to_internal_repr(value))
    except (ValueError, TypeError):
        return False


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
