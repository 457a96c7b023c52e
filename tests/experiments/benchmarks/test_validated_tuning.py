"""The validated-tuning benchmark's summary over several study pairs: each winner's gap is its
tuning value less the IQM of its re-tests, averaged per k over the pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
import pytest

from experiments.benchmarks import validated_tuning as bench
from rl_harness.tuning import storage


def study(
    args: argparse.Namespace, k: int, seed: int, values: list[float], test: list[float]
) -> None:
    """A finished study whose best trial (the winner) was re-tested on five seeds."""
    name = bench.study_name(args, k, seed)
    s = optuna.create_study(
        study_name=name,
        storage=storage.open_storage(f"sweeps/{name}/optuna.journal"),
        direction="maximize",
    )
    for v in values:  # k seeds of 1000 timesteps each
        s.add_trial(optuna.trial.create_trial(value=v, user_attrs={"timesteps": 1000 * k}))
    best = max(range(len(values)), key=lambda i: values[i])
    for i, x in enumerate(test):
        s.set_user_attr(f"job.retest_t{best}_s{5000 + i}", {"last": x, "timesteps": 1000})


def test_the_summary_pairs_the_winners_and_averages_their_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(algo="ppo", env="cartpole", k=3, prefix="t", seeds=[0, 1])
    study(args, 3, 0, [400.0, 450.0], [440.0] * 5)  # gap +10
    study(args, 1, 0, [500.0, 300.0], [460.0] * 5)  # gap +40
    study(args, 3, 1, [300.0, 200.0], [290.0] * 5)  # gap +10
    study(args, 1, 1, [100.0, 500.0], [420.0] * 5)  # gap +80
    text = bench.summary(args)
    assert "| 0 | trial 1 | 450.0 | 440.0 | +10.0 | trial 0 | 500.0 | 460.0 | +40.0 |" in text
    assert "| 1 | trial 0 | 300.0 | 290.0 | +10.0 | trial 1 | 500.0 | 420.0 | +80.0 |" in text
    # cost against a plain sweep (2 trials x 1 seed): 3x for tuning plus 5 re-tests = 5.5x
    assert "k=3: mean gap +10.0 [+10.0, +10.0] (95% CI); winners' mean test IQM 365.0; " in text
    assert "timesteps 5.50x a plain sweep (3.00x tuning)" in text
    assert "k=1: mean gap +60.0 [+40.0, +80.0] (95% CI); winners' mean test IQM 440.0; " in text
    assert "timesteps 3.50x a plain sweep (1.00x tuning)" in text
    assert "k=3 / mean gap with k=1: 0.17 [0.12, 0.25] over 2 pairs" in text
    # seed 0 keeps the name a study had before sampler seeds were an option
    assert bench.study_name(args, 3, 0) == "t-ppo-cartpole-k3"
    assert bench.study_name(args, 1, 1) == "t-ppo-cartpole-k1-seed1"
