"""The statistics every report uses, in one place: sample mean and std of returns, the 95%
confidence interval of a mean, the interquartile mean, percentile-bootstrap intervals (one
sample, or stratified over tasks), the run-score profile and the probability of improvement
(rliable's P(X > Y)): Agarwal et al. 2021's reporting, implemented here rather than taken from
the `rliable` package, whose 1.2.0 pulls in arch, statsmodels, seaborn, pandas and absl-py
(arch 7.2 does not import with pandas 3). tests/rl_harness/common/test_stats.py checks these
against values rliable 1.2.0 computes on the same data.

One convention everywhere: the std of returns is the sample std (ddof=1), the one a
confidence interval of the mean needs; with a single value it is 0.

One way to print an estimate, in every command (`estimate`, `evaluation`):

    2853.41 ± 8.62 (95% CI; std 77.52) over 320 episodes (97.9% ± 0.3% of optimum)

± is always the half-width of the 95% confidence interval of the mean, never the std.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def mean_std(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample std (ddof=1; 0 for a single value)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_std of no values")
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def ci95(values: Sequence[float] | np.ndarray) -> float:
    """Half-width of the 95% confidence interval of the mean (Student's t; NaN below 2).

    The t quantile comes from scipy.special (`stats.t.ppf` calls the same function): the
    training process computes this, and scipy.stats would add ~60 MB to its peak memory."""
    from scipy.special import stdtrit

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float("nan")
    return float(stdtrit(x.size - 1, 0.975) * x.std(ddof=1) / np.sqrt(x.size))


def estimate(
    mean: float, ci: float, std: float, n: int | None = None, unit: str = "episodes"
) -> str:
    """`mean ± ci (95% CI; std s) over n <unit>`: the one way an estimate is printed (without
    `n`, the count is left to the caller, e.g. a table's column)."""
    text = f"{mean:.2f} ± {_num(ci)} (95% CI; std {_num(std)})"
    return text if n is None else f"{text} over {n} {unit}"


def of_optimum(mean: float, ci: float, optimum: float | None) -> str:
    """` (97.9% ± 0.3% of optimum)`, or nothing without an optimum."""
    if not optimum:
        return ""
    return f" ({100 * mean / optimum:.1f}% ± {_num(100 * ci / abs(optimum), '.1f')}% of optimum)"


def evaluation(returns: Sequence[float] | np.ndarray, optimum: float | None = None) -> str:
    """An evaluation's episode returns as `estimate` prints them, with the % of the optimum."""
    mean, std = mean_std(returns)
    ci = ci95(returns)
    return estimate(mean, ci, std, len(returns)) + of_optimum(mean, ci, optimum)


def _num(value: float, spec: str = ".2f") -> str:
    return "—" if np.isnan(value) else format(value, spec)


def iqm(x: Any, axis: int = -1) -> Any:
    """Interquartile mean: the mean of the middle 50% (scipy's 25%-trimmed mean)."""
    from scipy import stats

    return stats.trim_mean(x, 0.25, axis=axis)


def lower_quantile(x: Any, q: float, axis: int = -1) -> Any:
    """The q-quantile of the values along `axis` (numpy's default: linear between order
    statistics)."""
    return np.quantile(np.asarray(x, dtype=float), q, axis=axis)


def cvar(x: Any, alpha: float, axis: int = -1) -> Any:
    """The lower-tail conditional value at risk along `axis`: the mean of the worst `alpha`
    fraction of the values, the boundary value counted by the fraction of it inside (the
    empirical distribution's (1/alpha)·∫₀^alpha F⁻¹(u) du). With n values and alpha ≤ 1/n it is
    the worst value."""
    v = np.moveaxis(np.sort(np.asarray(x, dtype=float), axis=axis), axis, -1)
    n = v.shape[-1]
    mass = alpha * n  # how many of the worst values, fractionally
    whole = int(np.floor(mass))
    tail = v[..., :whole].sum(axis=-1)
    if whole < n:
        tail = tail + (mass - whole) * v[..., whole]
    return tail / mass


def bootstrap_ci(
    x: Any, statistic: Any, samples: int, confidence: float, seed: int, axis: int = -1
) -> tuple[Any, Any]:
    """Percentile-bootstrap interval of `statistic` over runs (NaN with fewer than 2 runs)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    point = statistic(x, axis=axis)
    if x.shape[axis] < 2:
        return np.full_like(point, np.nan), np.full_like(point, np.nan)
    if np.all(x == np.take(x, [0], axis=axis)):  # no spread: the interval is the point
        return point, point
    res = stats.bootstrap(
        (x,),
        statistic,
        n_resamples=samples,
        confidence_level=confidence,
        method="percentile",
        axis=axis,
        vectorized=True,
        rng=seed,
    )
    return res.confidence_interval.low, res.confidence_interval.high


def probability_of_improvement(x: Any, y: Any) -> float:
    """P(X > Y) over all pairs of runs (ties count half), as rliable defines it: the chance
    that a run of X beats a run of Y."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    wins = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return float(wins.mean())


def improvement_ci(
    x: Any, y: Any, samples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile-bootstrap interval of P(X > Y), X's and Y's runs resampled independently
    (rliable's stratified bootstrap with one task); NaN below 2 runs on a side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or y.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    xs = x[rng.integers(0, x.size, (samples, x.size))]
    ys = y[rng.integers(0, y.size, (samples, y.size))]
    wins = (xs[:, :, None] > ys[:, None, :]) + 0.5 * (xs[:, :, None] == ys[:, None, :])
    p = wins.mean(axis=(1, 2))
    tail = 100 * (1 - confidence) / 2
    return float(np.percentile(p, tail)), float(np.percentile(p, 100 - tail))


def stratified_bootstrap_ci(
    scores_by_task: Sequence[Sequence[float] | np.ndarray],
    statistic: Any,
    samples: int,
    confidence: float,
    seed: int,
) -> tuple[Any, Any, Any]:
    """Point estimate and percentile-bootstrap interval of `statistic` over several tasks, each
    task's runs resampled within the task (rliable's stratified bootstrap; one task: the plain
    bootstrap of its runs). Tasks may hold different numbers of runs.

    `statistic(tasks)` takes one array per task whose last axis holds the runs and reduces it
    (`aggregate_iqm`, `run_score_profile(taus)`): the point estimate is it on the scores, the
    bootstrap calls it once on arrays of shape (samples, runs of the task). The interval is NaN
    when no task has two runs (nothing to resample)."""
    tasks = [np.asarray(x, dtype=float) for x in scores_by_task]
    if not tasks or any(x.ndim != 1 or x.size == 0 for x in tasks):
        raise ValueError("stratified_bootstrap_ci needs one non-empty 1-D array of runs a task")
    point = np.asarray(statistic(tasks), dtype=float)
    if all(x.size < 2 for x in tasks):
        return point, np.full_like(point, np.nan), np.full_like(point, np.nan)
    rng = np.random.default_rng(seed)
    resampled = [x[rng.integers(0, x.size, (samples, x.size))] for x in tasks]
    boot = np.asarray(statistic(resampled), dtype=float)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    return point, low, high


def aggregate_iqm(tasks: Sequence[np.ndarray]) -> Any:
    """IQM of every run of every task together (rliable's `aggregate_iqm`), along the last
    axis: a `stratified_bootstrap_ci` statistic."""
    return iqm(np.concatenate(tasks, axis=-1), axis=-1)


def run_score_profile(taus: Sequence[float] | np.ndarray) -> Any:
    """The statistic of a performance profile (rliable's run-score distribution): for each τ,
    the fraction of runs scoring above τ, each task weighing the same (its runs' fraction,
    averaged over tasks; with equal runs a task, the fraction of all runs, as rliable's)."""
    taus = np.asarray(taus, dtype=float)

    def profile(tasks: Sequence[np.ndarray]) -> np.ndarray:
        return np.mean([(x[..., None] > taus).mean(axis=-2) for x in tasks], axis=0)

    return profile
