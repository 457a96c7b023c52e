"""What a sweep optimises: one score per seed job, from its run, aggregated over a trial's seeds.

    per seed job:  last  the closing evaluation's mean return (eval.final: hundreds of episodes
                         where the task has an optimum)
                   best  the best of the periodic evaluations and the closing one
                   auc   the area under the evaluation curve, per timestep (its mean height):
                         rewards learning fast as well as ending well
    per trial:     `aggregate` of its seeds' scores (`Aggregate`):
                   mean      the mean
                   iqm       the interquartile mean
                   quantile  the q-quantile (q in (0, 1), default 0.25): a lower quantile sees
                             the bad seeds, which a mean or IQM averages away
                   cvar      the mean of the worst q fraction of the seeds (CVaR_q, default 0.25)

Why CVaR and not mean − k·std: with the 3-5 seeds a trial has, the std is a noisy estimate and
mean − k·std punishes a seed that is unusually *good* as much as one that is bad; CVaR moves only
with the bad tail, is the mean of actual seeds' scores (no k to choose), and is the worst seed
itself when q ≤ 1/seeds.

An aggregate is a pure function of the per-seed values it is given: a raced trial whose later
seeds never ran is scored on the seeds that did. Re-tests and the incumbent are scored the same
way (validation.py; `validate.aggregate=objective` ranks and judges them by it too), so tuning
and test scores compare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from rl_harness.common.stats import ci95, cvar, iqm, lower_quantile
from rl_harness.config.commands import between, choice
from rl_harness.errors import ConfigError

METRICS = ("last", "best", "auc")
AGGREGATES = ("mean", "iqm", "quantile", "cvar")
TAILED = ("quantile", "cvar")  # the aggregates that take q
DEFAULT_Q = 0.25


@dataclass(frozen=True)
class Aggregate:
    """How a trial's seeds' scores become one value (module docstring)."""

    name: str = "mean"
    q: float = DEFAULT_Q  # quantile and cvar only

    def __call__(self, values: Sequence[float] | np.ndarray, axis: int = -1) -> Any:
        """The aggregate along `axis` (a float for one trial's values; an array for the
        resamples of a bootstrap)."""
        x = np.asarray(values, dtype=float)
        if self.name == "mean":
            out = x.mean(axis=axis)
        elif self.name == "iqm":
            out = iqm(x, axis=axis)
        elif self.name == "quantile":
            out = lower_quantile(x, self.q, axis=axis)
        elif self.name == "cvar":
            out = cvar(x, self.q, axis=axis)
        else:
            raise ValueError(f"unknown aggregate {self.name!r}: use objective.check")
        return float(out) if np.ndim(out) == 0 else out

    def __str__(self) -> str:
        return f"{self.name} q={self.q:g}" if self.name in TAILED else self.name


KEY = "hydra.sweeper.objective"
RULES = [
    choice(f"{KEY}.metric", METRICS, default="last"),
    choice(f"{KEY}.aggregate", AGGREGATES, default="mean"),
]


def check(objective: Mapping[str, Any]) -> tuple[str, Aggregate]:
    """(metric, aggregate) of `hydra.sweeper.objective`, or a one-line error."""
    unknown = set(objective) - {"metric", "aggregate", "q"}
    if unknown:
        raise ConfigError(
            f"{KEY}.{sorted(unknown)[0]} is not an option: give metric, aggregate (and q)"
        )
    cfg = OmegaConf.create({"hydra": {"sweeper": {"objective": dict(objective)}}})
    for rule in RULES:
        rule(cfg)
    metric, how = objective.get("metric", "last"), objective.get("aggregate", "mean")
    q = objective.get("q")
    if q is None:
        return str(metric), Aggregate(str(how))
    if how not in TAILED:
        raise ConfigError(
            f"{KEY}.q applies to aggregate=quantile or cvar, not {how}: drop q or change aggregate"
        )
    between(f"{KEY}.q", 0.0, 1.0, open_interval=True)(cfg)
    return str(metric), Aggregate(str(how), float(q))


def scores(result: Mapping[str, Any]) -> dict[str, Any]:
    """A training run's result (train.run) as what a sweep keeps of it: every metric, the
    closing evaluation's CI, the run and the timesteps spent."""
    last = float(result["mean_reward"])
    curve = [(int(t), float(v)) for t, v in result.get("curve", [])]
    if not curve or curve[-1][0] < int(result["timesteps"]):
        curve.append((int(result["timesteps"]), last))
    return {
        "last": last,
        "last_ci": ci95(result["returns"]) if len(result.get("returns", [])) > 1 else None,
        "best": max(v for _, v in curve),
        "auc": area_per_step(curve),
        "run_id": result.get("run_id"),
        "timesteps": int(result["timesteps"]),
        "optimum": result.get("optimum"),  # the task's best expected return, where known
    }


def area_per_step(curve: Sequence[tuple[int, float]]) -> float:
    """The trapezoid area under (timestep, value) divided by the span: the curve's mean height
    (the value itself for a single point)."""
    t = np.array([p[0] for p in curve], dtype=float)
    v = np.array([p[1] for p in curve], dtype=float)
    if len(curve) == 1 or t[-1] == t[0]:
        return float(v[-1])
    return float(np.trapezoid(v, t) / (t[-1] - t[0]))


def aggregate(values: Sequence[float], how: Aggregate | str) -> float:
    """The trial's value from the scores of the seeds it has (NaN if one is not finite)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return math.nan
    return float((Aggregate(how) if isinstance(how, str) else how)(x))
