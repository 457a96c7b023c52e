"""The statistics every report uses: sample std, CI of a mean, IQM, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from rl_harness.common import stats


def test_mean_std_is_the_sample_std() -> None:
    assert stats.mean_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx(
        (2.5, np.std([1, 2, 3, 4], ddof=1))
    )
    assert stats.mean_std(np.array([7.0])) == (7.0, 0.0)  # one value: no spread
    with pytest.raises(ValueError, match="no values"):
        stats.mean_std([])


def test_ci95_is_students_t_half_width() -> None:
    x = [1.0, 2.0, 4.0]
    expected = scipy_stats.t.ppf(0.975, 2) * np.std(x, ddof=1) / np.sqrt(3)
    assert stats.ci95(x) == pytest.approx(expected)
    assert np.isnan(stats.ci95([1.0]))


def test_every_estimate_prints_the_ci_after_plus_minus_and_the_std_apart() -> None:
    returns = [10.0, 12.0, 14.0, 16.0]
    mean, std = stats.mean_std(returns)
    half = stats.ci95(returns)
    assert half != pytest.approx(std)  # the two would be told apart below
    assert stats.evaluation(returns) == (
        f"13.00 ± {half:.2f} (95% CI; std {std:.2f}) over 4 episodes"
    )
    assert stats.evaluation(returns, optimum=20.0) == (
        f"13.00 ± {half:.2f} (95% CI; std {std:.2f}) over 4 episodes "
        f"(65.0% ± {100 * half / 20:.1f}% of optimum)"
    )
    # one episode: no interval, said as such rather than "nan"
    assert stats.evaluation([5.0]) == "5.00 ± — (95% CI; std 0.00) over 1 episodes"
    assert stats.estimate(1.0, 0.5, 2.0, 3, unit="seeds") == (
        "1.00 ± 0.50 (95% CI; std 2.00) over 3 seeds"
    )
    assert stats.estimate(1.0, 0.5, 2.0) == "1.00 ± 0.50 (95% CI; std 2.00)"


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert stats.iqm(np.array([0.0, 1.0, 2.0, 3.0, 100.0])) == pytest.approx(2.0)
    assert stats.iqm(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(2.5)
    assert stats.iqm(
        np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [400.0, 8.0]]), axis=0
    ) == pytest.approx([2.5, 6.5])


def test_bootstrap_interval_brackets_the_iqm_and_repeats() -> None:
    x = np.array([10.0, 12.0, 13.0, 15.0, 30.0])
    lo, hi = stats.bootstrap_ci(x, stats.iqm, 2000, 0.95, seed=0)
    assert lo <= stats.iqm(x) <= hi and lo < hi
    assert (lo, hi) == stats.bootstrap_ci(x, stats.iqm, 2000, 0.95, seed=0)
    wider = stats.bootstrap_ci(x, stats.iqm, 2000, 0.99, seed=0)
    assert wider[0] <= lo and hi <= wider[1]
    # the same percentile bootstrap as scipy's own, with the trimmed mean as statistic
    ref = scipy_stats.bootstrap(
        (x,),
        lambda s, axis: scipy_stats.trim_mean(s, 0.25, axis=axis),
        n_resamples=2000,
        method="percentile",
        rng=0,
    ).confidence_interval
    assert (lo, hi) == pytest.approx((ref.low, ref.high))
    assert all(np.isnan(stats.bootstrap_ci(np.array([1.0]), stats.iqm, 100, 0.95, 0)))
    assert stats.bootstrap_ci(np.array([2.0, 2.0, 2.0]), stats.iqm, 100, 0.95, 0) == (2, 2)


# Reference values from an independent implementation: rliable 1.2.0 (with arch 7.2.0, numpy
# 2.4.6, pandas 2.x), in a scratch venv outside this repository, on SCORES (runs x tasks):
#   rly.get_interval_estimates({"x": SCORES}, lambda x: np.array([metrics.aggregate_iqm(x)]),
#                              reps=50000, random_state=np.random.RandomState(0))
#   -> point 0.63111111, interval [0.50888889, 0.74777778]
#   the same on SCORES[:, :1] (one task)  -> point 0.44666667, interval [0.19666667, 0.77]
#   np.random.seed(0); rly.create_performance_profile({"x": SCORES}, [0.25, 0.5, 0.75, 1.0],
#                                                     reps=50000)
#   -> point [0.86666667, 0.66666667, 0.33333333, 0.06666667],
#      interval [[0.66666667, 0.46666667, 0.2, 0.0], [1.0, 0.86666667, 0.46666667, 0.2]]
# RandomState 1 and 2 moved the aggregate interval's ends by at most 0.0012: the tolerance
# below (0.005) is wider than rliable's own Monte Carlo spread, far narrower than the interval.
SCORES = np.array(
    [
        [0.12, 0.95, 0.40],
        [0.35, 0.80, 0.55],
        [0.48, 1.02, 0.61],
        [0.51, 0.70, 0.20],
        [0.90, 0.88, 0.75],
    ]
)


def test_stratified_bootstrap_iqm_matches_rliable() -> None:
    tasks = list(SCORES.T)
    point, lo, hi = stats.stratified_bootstrap_ci(tasks, stats.aggregate_iqm, 50_000, 0.95, 0)
    assert point == pytest.approx(0.63111111, abs=1e-8)
    assert (lo, hi) == pytest.approx((0.50888889, 0.74777778), abs=0.005)
    point, lo, hi = stats.stratified_bootstrap_ci(tasks[:1], stats.aggregate_iqm, 50_000, 0.95, 0)
    assert point == pytest.approx(0.44666667, abs=1e-8)
    assert (lo, hi) == pytest.approx((0.19666667, 0.77), abs=0.005)


def test_performance_profile_and_its_band_match_rliable() -> None:
    profile = stats.run_score_profile([0.25, 0.5, 0.75, 1.0])
    point, lo, hi = stats.stratified_bootstrap_ci(list(SCORES.T), profile, 50_000, 0.95, 0)
    assert point == pytest.approx([0.86666667, 0.66666667, 0.33333333, 0.06666667])
    assert lo == pytest.approx([0.66666667, 0.46666667, 0.2, 0.0], abs=0.005)
    assert hi == pytest.approx([1.0, 0.86666667, 0.46666667, 0.2], abs=0.005)


def test_stratified_bootstrap_resamples_within_each_task() -> None:
    # two tasks of constant runs: every resample keeps one 0 and one 10 task, so the interval
    # of the mean over tasks is the point; pooling the runs would have spread it
    tasks = [np.zeros(4), np.full(3, 10.0)]
    per_task = lambda t: np.mean([x.mean(axis=-1) for x in t], axis=0)  # noqa: E731
    assert stats.stratified_bootstrap_ci(tasks, per_task, 1000, 0.95, 0) == (5.0, 5.0, 5.0)
    # ragged tasks weigh the same in the profile, whatever their number of runs
    point, _, _ = stats.stratified_bootstrap_ci(tasks, stats.run_score_profile([5.0]), 100, 0.95, 0)
    assert point == pytest.approx([0.5])
    # one run a task: nothing to resample
    _, lo, hi = stats.stratified_bootstrap_ci([[1.0], [2.0]], stats.aggregate_iqm, 100, 0.95, 0)
    assert np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError, match="non-empty"):
        stats.stratified_bootstrap_ci([[1.0], []], stats.aggregate_iqm, 100, 0.95, 0)
