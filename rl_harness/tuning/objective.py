"""What a sweep optimises: one score per seed job, from its run, aggregated over a trial's seeds.

    per seed job:  last  the closing evaluation's mean return (eval.final: hundreds of episodes
                         where the task has an optimum)
                   best  the best of the periodic evaluations and the closing one
                   auc   the area under the evaluation curve, per timestep (its mean height):
                         rewards learning fast as well as ending well
    per trial:     mean or iqm (interquartile mean) of its seeds' scores

Re-tests and the incumbent are scored the same way, so tuning and test scores compare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rl_harness.common.stats import ci95, iqm
from rl_harness.errors import ConfigError

METRICS = ("last", "best", "auc")
AGGREGATES = ("mean", "iqm")


def check(objective: Mapping[str, Any]) -> tuple[str, str]:
    """(metric, aggregate) of `hydra.sweeper.objective`, or a one-line error."""
    unknown = set(objective) - {"metric", "aggregate"}
    if unknown:
        raise ConfigError(
            f"hydra.sweeper.objective.{sorted(unknown)[0]} is not an option: "
            "give metric and aggregate"
        )
    metric, how = objective.get("metric", "last"), objective.get("aggregate", "mean")
    if metric not in METRICS:
        raise ConfigError(
            f"hydra.sweeper.objective.metric={metric!r} is not one of: {', '.join(METRICS)}"
        )
    if how not in AGGREGATES:
        raise ConfigError(
            f"hydra.sweeper.objective.aggregate={how!r} is not one of: {', '.join(AGGREGATES)}"
        )
    return str(metric), str(how)


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


def aggregate(values: Sequence[float], how: str) -> float:
    """The trial's value from its seeds' scores."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return math.nan
    return float(x.mean() if how == "mean" else iqm(x))
