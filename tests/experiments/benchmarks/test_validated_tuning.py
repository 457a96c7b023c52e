"""The validated-tuning benchmark's summary over several study pairs: each winner's gap is its
tuning value less the IQM of its re-tests, averaged per k over the pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
import pytest

from experiments.benchmarks import validated_tuning as bench
from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
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


def arguments(**over: object) -> argparse.Namespace:
    base = dict(algo="ppo", env="cartpole", trials=2, k=3, workers=2, top=1, prefix="t",
                seeds=[0, 1], of=16, out=None, overrides=["n_timesteps=1000"])  # fmt: skip
    return argparse.Namespace(**{**base, **over})


def four_studies(args: argparse.Namespace) -> None:
    study(args, 3, 0, [400.0, 450.0], [440.0] * 5)  # gap +10
    study(args, 1, 0, [500.0, 300.0], [460.0] * 5)  # gap +40
    study(args, 3, 1, [300.0, 200.0], [290.0] * 5)  # gap +10
    study(args, 1, 1, [100.0, 500.0], [420.0] * 5)  # gap +80


def head(command: str) -> dict:
    return {"command": command, "commit": "abcdef0123", "dirty": "false", "machine": "m"}


def test_pairs_run_in_two_sittings_merge_into_one_record_and_its_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = arguments(prefix="m")  # storages are cached by path: not the other test's
    four_studies(args)
    first = "python -m experiments.benchmarks.validated_tuning --sampler-seeds 0"
    second = "python -m experiments.benchmarks.validated_tuning --sampler-seeds 1"
    one = bench.merged(None, head(first), args, [bench.pair_entry(args, 0, {3: 60.0, 1: 30.0})])
    assert [p["sampler_seed"] for p in one["pairs"]] == [0]
    page = bench.render(one)
    assert "1 of 16 pairs (sampler seeds 0)" in page and "mean gap" not in page
    both = bench.merged(one, head(second), args, [bench.pair_entry(args, 1, {})])
    assert [(p["sampler_seed"], p["command"]) for p in both["pairs"]] == [(0, first), (1, second)]
    k3 = both["pairs"][0]["studies"]["3"]
    assert k3["test"] == [440.0] * 5 and k3["tuning"] == 450.0 and k3["winner"] == 1
    assert k3["timesteps_tuning"] == 6000 and k3["timesteps_total"] == 11000
    path = tmp_path / "rec"
    records.write(both, path)
    page = path.with_suffix(".md").read_text()
    assert page == bench.render(records.load(path))  # what a re-render gives
    assert "2 of 16 pairs (sampler seeds 0, 1)" in page
    assert "k=3: mean gap +10.0 [+10.0, +10.0] (95% CI)" in page
    assert "timesteps 5.50x a plain sweep (3.00x tuning)" in page
    assert "| 0 | 3 | trial 1 | 450.0 | 440.0 [440.0, 440.0] | +10.0 |" in page
    # a pair run again replaces its entry; other settings are refused
    again = bench.merged(both, head(second), args, [bench.pair_entry(args, 0, {})])
    assert [p["command"] for p in again["pairs"]] == [second, second]
    with pytest.raises(SystemExit, match="other settings"):
        bench.merged(both, head(second), arguments(prefix="m", trials=3), [])


def test_the_record_goes_where_its_command_says() -> None:
    rec = {"command": "python -m experiments.benchmarks.validated_tuning --prefix gap10k",
           "settings": {"prefix": "gap10k", "algo": "ppo", "env": "cartpole"}}  # fmt: skip
    assert bench.record_path(rec) == RESULTS / "validated_tuning" / "gap10k-ppo-cartpole.json"
    rec["command"] += " --out scratch/vt.md"
    assert bench.record_path(rec) == ROOT / "scratch" / "vt.json"


def test_the_summary_pairs_the_winners_and_averages_their_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = arguments()
    four_studies(args)
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


def test_a_validated_k3_study_counts_only_the_incumbent_runs_it_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A winner with three seeds and the incumbent's five runs, two of them reused from an
    earlier study: the entry judges the champion and counts 3 of the 5 incumbent runs."""
    monkeypatch.chdir(tmp_path)
    args = arguments(prefix="v")
    name = bench.study_name(args, 3, 0)
    s = optuna.create_study(
        study_name=name,
        storage=storage.open_storage(f"sweeps/{name}/optuna.journal"),
        direction="maximize",
    )
    seeds = {f"seed.{x}": {"last": 400.0 + 10 * x, "timesteps": 1000} for x in range(3)}
    s.add_trial(optuna.trial.create_trial(value=410.0, user_attrs={"seeds": [0, 1, 2], **seeds}))
    for i in range(5):
        s.set_user_attr(f"job.retest_t0_s{5000 + i}", {"last": 400.0, "timesteps": 1000})
        reused = {"reused": "r0"} if i < 2 else {}
        s.set_user_attr(f"job.incumbent_s{5000 + i}", {"last": 300.0, "timesteps": 1000, **reused})
    entry = bench.study_entry(bench.load(name), 1, None)
    assert entry["champion"] == 0 and entry["incumbent_test"] == [300.0] * 5
    assert entry["decision"].startswith("promoted trial 0")
    assert entry["reused_runs"] == 2
    assert entry["timesteps_tuning"] == 3000 and entry["timesteps_total"] == 3000 + 5000 + 3000
    assert bench.row(entry, 0, 3, 1000)[-2:] == [2, ""]
