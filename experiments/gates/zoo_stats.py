"""The RL Zoo gate's statistics beyond its count, after Agarwal et al. 2021 (rliable).

RL Zoo publishes, per pair, the mean and per-episode std of one trained agent. Its agent's
episode is modelled as N(mean, std²), and a seed scoring x (its closing evaluation, a 30-episode
mean) beats it with probability Φ((x − mean) / std); with std 0 (CartPole) 1 above the mean, ½
equal, 0 below, ties counting half as in the probability of improvement. This compares a
30-episode mean with one of their episodes, as the gate's threshold (mean − ½ std) does.

That probability is also each run's normalized score: it lies in [0, 1] for every pair, ½ at
RL Zoo's mean and Φ(−½) ≈ 0.31 at the gate's threshold. A ratio to RL Zoo's score would not do:
most of these tasks score below zero, and CartPole's std is 0. From it: a pair's
P(seed > RL Zoo) (the mean over its seeds), their mean over pairs with a 95% stratified
bootstrap interval (each pair's seeds resampled within the pair), and the performance profile
(the fraction of runs scoring above τ, each pair weighing the same) with its bootstrap band.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from rl_harness.common.stats import run_score_profile, stratified_bootstrap_ci

Pair = tuple[str, ...]
BOOT_SAMPLES, BOOT_SEED, CONFIDENCE = 10_000, 0, 0.95


def beats_zoo(x: float, mean: float, std: float) -> float:
    """P(x > a draw from N(mean, std²)); ties (std 0) count half."""
    if std > 0:
        return float(ndtr((x - mean) / std))
    return 1.0 if x > mean else 0.5 if x == mean else 0.0


def p_beats_zoo(values: list[float], mean: float, std: float) -> float:
    """A pair's P(seed > RL Zoo): beats_zoo averaged over its seeds (NaN without one)."""
    return float(np.mean([beats_zoo(x, mean, std) for x in values])) if values else np.nan


def normalized(
    values: Mapping[Pair, list[float]], zoo: Mapping[Pair, tuple[float, float]]
) -> list[np.ndarray]:
    """Each pair's seeds as beats_zoo scores (zoo: pair → RL Zoo's mean and std), one array
    a pair that has seeds."""
    return [np.array([beats_zoo(x, *zoo[k]) for x in v]) for k, v in values.items() if v]


def _pair_mean(tasks: list[np.ndarray]) -> np.ndarray:
    return np.mean([x.mean(axis=-1) for x in tasks], axis=0)


def mean_over_pairs(tasks: list[np.ndarray]) -> tuple[float, float, float]:
    """The pairs' mean P(seed > RL Zoo) and its stratified bootstrap interval."""
    point, low, high = stratified_bootstrap_ci(
        tasks, _pair_mean, BOOT_SAMPLES, CONFIDENCE, BOOT_SEED
    )
    return float(point), float(low), float(high)


def profile_figure(tasks: list[np.ndarray], path: Path) -> Path:
    """The performance profile of the runs' scores (rliable's run-score distribution), with its
    95% stratified bootstrap band, as a PNG."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend

    taus = np.linspace(0, 1, 201)
    point, low, high = stratified_bootstrap_ci(
        tasks, run_score_profile(taus), BOOT_SAMPLES, CONFIDENCE, BOOT_SEED
    )
    fig = Figure(figsize=(7, 4.2), dpi=100)
    ax = fig.subplots()
    ax.plot(taus, point, label="fraction of runs above τ")
    ax.fill_between(taus, low, high, alpha=0.25, label="95% stratified bootstrap band")
    ax.axvline(float(ndtr(-0.5)), color="grey", ls="--", label="the gate: RL Zoo's mean − ½ std")
    ax.axvline(0.5, color="grey", ls=":", label="RL Zoo's mean")
    runs = sum(len(t) for t in tasks)
    ax.set_xlabel("τ: P(seed's closing evaluation > an episode of RL Zoo's agent)")
    ax.set_ylabel("fraction of runs > τ (pairs weigh the same)")
    ax.set_title(f"RL Zoo gate: {runs} runs over {len(tasks)} pairs")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
