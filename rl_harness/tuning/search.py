"""Samplers and pruners by name, each with its own class's arguments, checked before a trial runs.

hydra.sweeper.sampler: {name: tpe, seed: 0, tpe: {n_startup_trials: 5}}
hydra.sweeper.pruner:  {name: median, median: {n_warmup_steps: 2}}

The median and percentile pruners count a trial raced out of its seeds (race.py) as a finished
one: Optuna's compare a trial only with COMPLETE trials and wait for n_startup_trials of them,
but with raced seeds most trials end PRUNED after a seed or two, so too few ever complete and
the pruner never starts. A raced-out trial's seeds ran to their end, so their curves are as
much a sample of how trials do as a complete trial's are (with one seed per trial, as in a k = 1
sweep, where every trial the pruner lets through completes); counting only the survivors would
also raise the median to the good trials'. Without raced seeds nothing changes.
"""

from __future__ import annotations

import inspect
from collections.abc import Container, Sequence
from types import SimpleNamespace
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from rl_harness.errors import ConfigError
from rl_harness.tuning.race import RACED_OUT

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


class _WithRacedOut:
    """The study as a pruner reads it: its raced-out trials listed among the COMPLETE ones."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if states is None or TrialState.COMPLETE not in states:
            return self._study.get_trials(deepcopy=deepcopy, states=states)
        wanted: Sequence[TrialState] = (*states, TrialState.PRUNED)  # type: ignore[misc]
        return [
            t
            for t in self._study.get_trials(deepcopy=deepcopy, states=tuple(set(wanted)))
            if t.state in states or t.user_attrs.get(RACED_OUT) is not None
        ]


class _CountsRacedOut:
    """Mixed into a pruner that compares with finished trials (module docstring)."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return super().prune(_WithRacedOut(study), trial)  # type: ignore[misc]


class MedianPruner(_CountsRacedOut, optuna.pruners.MedianPruner):
    __doc__ = optuna.pruners.MedianPruner.__doc__


class PercentilePruner(_CountsRacedOut, optuna.pruners.PercentilePruner):
    __doc__ = optuna.pruners.PercentilePruner.__doc__


# Optuna's pruners, with ours in place of those that count raced-out trials.
_PRUNER_CLASSES = SimpleNamespace(
    **{cls: getattr(optuna.pruners, cls) for cls in PRUNERS.values()}
    | {"MedianPruner": MedianPruner, "PercentilePruner": PercentilePruner}
)


def _plain(spec: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.create(spec or {}), resolve=True)  # type: ignore


def _resolve(
    kind: str, table: dict[str, str], module: Any, spec: dict[str, Any], **common: Any
) -> tuple[type, dict[str, Any]]:
    """`{name: median, median: {n_warmup_steps: ...}, hyperband: {...}}` → (MedianPruner, its
    arguments). Arguments are kept per class, so switching `name` never carries another
    class's arguments."""
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
    return cls, {k: v for k, v in common.items() if k in accepted} | kwargs


def _build(kind: str, cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, ImportError) as e:
        raise ConfigError(
            f"hydra.sweeper.{kind}: cannot make {cls.__name__}: {e}".splitlines()[0]
        ) from None


def _sampler(spec: Any, seed_offset: int, parallel: bool) -> tuple[type, dict[str, Any]]:
    spec = _plain(spec) or {"name": "tpe"}
    seed = spec.get("seed")
    common: dict[str, Any] = {"seed": None if seed is None else int(seed) + seed_offset}
    if parallel:  # TPE: pending trials count as bad, so workers do not pick the same point
        common["constant_liar"] = True
    return _resolve("sampler", SAMPLERS, optuna.samplers, spec, **common)


def _pruner(spec: Any) -> tuple[type, dict[str, Any]]:
    return _resolve("pruner", PRUNERS, _PRUNER_CLASSES, _plain(spec) or {"name": "none"})


def make_sampler(
    spec: Any, seed_offset: int = 0, parallel: bool = False
) -> optuna.samplers.BaseSampler:
    """tpe (default), random, cmaes, gp or qmc, with `seed` and the class's own arguments.

    `seed_offset` keeps parallel workers and resumed sessions from replaying the same draws.
    """
    return _build("sampler", *_sampler(spec, seed_offset, parallel))


def make_pruner(spec: Any) -> optuna.pruners.BasePruner:
    """median, percentile, successive_halving, hyperband, threshold or none."""
    return _build("pruner", *_pruner(spec))


def described(sampler: Any, pruner: Any, parallel: bool = False) -> dict[str, Any]:
    """`{"sampler": {"class": "TPESampler", "args": {...}}, "pruner": {...}}`: the classes and
    the arguments `make_sampler` and `make_pruner` pass them (the seed before its offset)."""
    built = {"sampler": _sampler(sampler, 0, parallel), "pruner": _pruner(pruner)}
    return {key: {"class": cls.__name__, "args": args} for key, (cls, args) in built.items()}
