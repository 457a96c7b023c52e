"""Validated tuning: k seeds per trial, the objective, re-tests on unseen seeds, champion vs
incumbent, promotion, and resuming each stage after SIGKILL.

End-to-end sweeps run as the user runs them (a subprocess) on the tiny CartPole budget of
test_sweep.py; the statistics and the decision are checked in-process on fixed numbers.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf
from optuna.trial import TrialState

from rl_harness.common import liveness, seeds, stats
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking
from rl_harness.tuning import objective, units, validation
from rl_harness.tuning import storage as storages
from rl_harness.tuning.units import Unit
from tests.rl_harness.tuning.test_sweep import load, mlflow_runs, sweep_cmd
from tests.waiting import wait_for

# One categorical value, the incumbent's own (conf/hparams/ppo_cartpole.yaml has gamma 0.98):
# every trial is the incumbent, so the champion cannot be significantly better.
SAME_AS_INCUMBENT = "hydra.sweeper.space={algo: {gamma: {type: categorical, choices: [0.98]}}}"
VALIDATED = [
    "hydra.sweeper.seeds=2",
    "hydra.sweeper.validate.top=2",
    "hydra.sweeper.validate.seeds=2",
]


def cmd(study: str, *args: str) -> list[str]:
    base = [a for a in sweep_cmd(study) if a != "hydra.sweeper.validate.top=0"]
    return [*base, *VALIDATED, *args]


def run(study: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd(study, *args), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# ---------------------------------------------------------------- in-process


def test_probability_of_improvement_counts_pairs_and_ties_half() -> None:
    assert stats.probability_of_improvement([3, 4], [1, 2]) == 1.0
    assert stats.probability_of_improvement([1, 2], [3, 4]) == 0.0
    assert stats.probability_of_improvement([1, 3], [2, 2]) == 0.5
    assert stats.probability_of_improvement([2, 2], [2, 2]) == 0.5  # ties count half
    low, high = stats.improvement_ci([3, 4, 5], [1, 2, 3.5], 2000, 0.95, 0)
    assert 0 <= low < stats.probability_of_improvement([3, 4, 5], [1, 2, 3.5]) <= high <= 1
    assert stats.improvement_ci([3, 4, 5], [1, 2, 2.5], 2000, 0.95, 0) == (1.0, 1.0)
    assert all(math.isnan(v) for v in stats.improvement_ci([1], [2, 3], 100, 0.95, 0))


def test_objective_scores_every_metric_from_a_run() -> None:
    result = {
        "mean_reward": 10.0,
        "returns": [9.0, 11.0],
        "timesteps": 400,
        "run_id": "r",
        "curve": [(100, 2.0), (200, 12.0), (300, 6.0)],
        "optimum": None,
    }
    s = objective.scores(result)
    assert s["last"] == 10.0 and s["best"] == 12.0 and s["timesteps"] == 400
    # trapezoids over (100, 2) (200, 12) (300, 6) (400, 10): (700 + 900 + 800) / 300
    assert s["auc"] == pytest.approx(2400 / 300)
    assert s["last_ci"] == pytest.approx(stats.ci95([9.0, 11.0]))
    assert objective.aggregate([1.0, 2.0, 30.0, 4.0], "iqm") == pytest.approx(3.0)
    assert objective.aggregate([1.0, 2.0, 30.0, 4.0], "mean") == pytest.approx(9.25)
    assert math.isnan(objective.aggregate([1.0, float("nan")], "mean"))


@pytest.mark.parametrize(
    "options, words",
    [
        ({"metric": "median"}, ["objective.metric must be one of", "last, best, auc"]),
        ({"aggregate": "max"}, ["objective.aggregate must be one of", "mean, iqm", "'max'"]),
        ({"metrc": "last"}, ["objective.metrc", "not an option"]),
    ],
)
def test_bad_objective_is_one_line_naming_the_key(options: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        objective.check(options)
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value)


def settings(**over: object) -> validation.Settings:
    base = {"top": 2, "seeds": 3, "seed_offset": 5000, "promote": False}
    return validation.settings({**base, **over})


def test_validation_settings_and_seed_overlap_are_checked_up_front() -> None:
    with pytest.raises(ConfigError, match="validate.top must be an integer ≥ 0"):
        settings(top=-1)
    with pytest.raises(ConfigError, match="validate.promote must be true or false"):
        settings(promote="yes")
    with pytest.raises(ConfigError, match="validate.seed is not an option"):
        settings(seed=3)
    with pytest.raises(ConfigError, match="direction=maximize"):
        validation.check_seeds(settings(), base=0, k=1, n_envs=1, direction="minimize")
    validation.check_seeds(settings(top=0), base=4980, k=5, n_envs=16, direction="minimize")


@pytest.mark.parametrize(
    ("base", "k", "n_envs", "over", "words"),
    [
        # 4990..4994 + 16 envs reach 5009: the tuning block ends at 4999
        (
            4990,
            5,
            16,
            {},
            [
                "seed=4990",
                "4990..4994 (their env seeds up to 5009)",
                "into the validation seeds",
                "0..4999",
            ],
        ),  # fmt: skip
        (
            8000,
            1,
            1,
            {"top": 0},
            ["seed=8000", "into the report seeds", "sweeps tune on seeds 0..4999"],
        ),  # fmt: skip
        (
            0,
            3,
            1,
            {"seed_offset": 2},
            ["validate.seed_offset=2", "2..4", "into the tuning seeds", "5000..7999"],
        ),  # fmt: skip
        (
            0,
            1,
            8,
            {"seed_offset": 7995},
            ["7995..7997 (their env seeds up to 8004)", "into the report seeds"],
        ),  # fmt: skip
    ],
)
def test_sweeps_tune_and_retest_only_in_their_seed_blocks(
    base: int, k: int, n_envs: int, over: dict, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as e:
        validation.check_seeds(settings(**over), base, k, n_envs, "maximize")
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value), str(e.value)


def test_the_default_seeds_fit_their_blocks() -> None:
    """Tuning from 0 and re-tests from 5000 (the sweeper's default offset: VALIDATION's first)."""
    from hydra_plugins.rl_harness_sweeper.optuna_rl_sweeper import OptunaRLSweeperConf

    offset = OptunaRLSweeperConf().validate["seed_offset"]
    assert offset == seeds.VALIDATION.start == 5000
    validation.check_seeds(settings(seed_offset=offset, seeds=5), 0, 5, 16, "maximize")
    validation.check_seeds(settings(seed_offset=7995, seeds=3), 4995, 3, 3, "maximize")  # ends


def made_up(champion: list[float], incumbent: list[float]) -> validation.Validation:
    value, ci = validation.iqm_ci(champion)
    row = validation.Row(3, 50.0, (40.0, 60.0), champion, value, ci, [5000, 5001, 5002])
    inc, inc_ci = validation.iqm_ci(incumbent)
    poi = stats.probability_of_improvement(champion, incumbent)
    poi_ci = stats.improvement_ci(champion, incumbent, 2000, 0.95, 0)
    return validation.Validation([row], incumbent, inc, inc_ci, poi, poi_ci, None, {})


def test_promotion_needs_a_request_and_a_significant_improvement() -> None:
    clear = made_up([10.0, 11.0, 12.0], [1.0, 2.0, 3.0])
    assert clear.significant
    assert validation.decide(clear, promote=True)[0] is True
    kept, why = validation.decide(clear, promote=False)
    assert not kept and "validate.promote=true" in why
    close = made_up([10.0, 2.5, 12.0], [1.0, 3.0, 11.0])
    assert not close.significant
    kept, why = validation.decide(close, promote=True)
    assert not kept and "kept the incumbent" in why and "lower bound is not above 0.5" in why
    one = made_up([10.0], [1.0])
    kept, why = validation.decide(one, promote=True)
    assert not kept and "at least 2 test seeds" in why


def test_promote_writes_the_champions_file_over_the_target(tmp_path: Path) -> None:
    from rl_harness.tuning import champion

    best = tmp_path / "best_hparams.yaml"
    best.write_text(
        "# @package _global_\n# Champion of ...\nn_timesteps: 60\nalgo:\n  gamma: 0.9\n"
    )
    target = tmp_path / "conf" / "hparams" / "ppo_cartpole.yaml"
    assert champion.promote(best, target) == target  # nothing shipped: the champion's file
    assert OmegaConf.load(target) == OmegaConf.load(best)
    # Over a shipped file: the champion's values, its whole algo; the cadence it did not set stays.
    target.write_text(
        "# @package _global_\nn_timesteps: 20\neval:\n  freq: 5\ncheckpoint:\n  freq: 5\n"
        "algo:\n  gamma: 0.99\n  learning_rate: 0.1\n"
    )
    champion.promote(best, target)
    text = target.read_text()
    assert text.startswith("# @package _global_\n# Champion of ...\n")
    assert "# Kept from the file this replaced: checkpoint, eval" in text
    assert OmegaConf.to_container(OmegaConf.load(target)) == {
        "n_timesteps": 60,
        "eval": {"freq": 5},
        "checkpoint": {"freq": 5},
        "algo": {"gamma": 0.9},
    }


def test_claims_of_another_machine_reopen_once_no_longer_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rl_harness.tuning import units

    now = 1_000_000.0
    other = "another-machine:4242:77"
    assert not units._open(f"{other}@{now - 100}", now)  # renewed 100 s ago: alive
    assert units._open(f"{other}@{now - 121}", now)  # 4 beats of 30 s missed: its machine is lost
    assert not units._open(other, now)  # a claim from before renewals: cannot tell, left alone
    assert units._open(f"{socket.gethostname()}:999999999:1@{now}", now)  # here: process table

    storage = storages.open_storage(str(tmp_path / "o.journal"))
    study = optuna.create_study(study_name="r", storage=storage, direction="maximize")
    job = Unit("incumbent", 5000)
    with liveness.heartbeat(*units.kept_claim(study, storage, job), interval=0.05):
        units.claim(study, storage, job)
        first = study.user_attrs[f"job.{job.label}.owner"]
        renewed = wait_for(
            lambda: (
                optuna.load_study(study_name="r", storage=storage).user_attrs[
                    f"job.{job.label}.owner"
                ]
                != first
                or None
            ),
            "the claim to be renewed",
            30,
        )
    assert renewed


def test_free_workers_take_a_trials_seeds_and_dead_claims_reopen(tmp_path: Path) -> None:
    storage = storages.open_storage(str(tmp_path / "o.journal"))
    study = optuna.create_study(study_name="u", storage=storage, direction="maximize")
    trial = study.ask()
    trial.set_user_attr("seeds", [0, 1, 2])
    frozen = lambda: storage.get_trial(storages.trial_id(storage, "u", trial.number))  # noqa: E731
    first = units.open_trial_seed(frozen(), 3)
    assert first == Unit("trial", 0, trial.number, 0, 3)
    units.claim(study, storage, first)
    second = units.open_trial_seed(frozen(), 3)  # a second worker takes the next seed
    assert second is not None and second.seed == 1
    units.record(study, storage, first, {"last": 1.0})
    units.claim(study, storage, second)
    assert units.open_trial_seed(frozen(), 3).seed == 2
    dead = Unit("trial", 2, trial.number, 2, 3)
    tid = storages.trial_id(storage, "u", trial.number)
    storage.set_trial_user_attr(tid, "seed.2.owner", f"{socket.gethostname()}:999999999:1")
    assert units.open_trial_seed(frozen(), 3) == dead  # its owner is gone: open again
    assert units.seed_results(frozen()) == {0: {"last": 1.0}}
    assert not units.stranded(frozen())
    for s in (1, 2):
        units.record(study, storage, Unit("trial", s, trial.number, s, 3), {"last": 2.0})
    assert units.stranded(frozen())  # all seeds scored, never told: the next worker ends it
    assert units.open_trial_seed(frozen(), 3) is None
    jobs = [Unit("retest", 5000, 0), Unit("incumbent", 5000)]
    assert units.open_job(study, jobs) == jobs[0]
    units.claim(study, storage, jobs[0])
    assert units.open_job(study, jobs) == jobs[1]
    units.release(study, storage, jobs[0])  # stopped: the next session runs it
    assert units.open_job(study, jobs) == jobs[0]


# ---------------------------------------------------------------- end to end


def test_validated_sweep_records_every_stage_with_disjoint_seeds_and_refuses_a_tie(
    tmp_path: Path,
) -> None:
    target = tmp_path / "promoted.yaml"
    args = (
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.space=null",
        SAME_AS_INCUMBENT,
        "hydra.sweeper.validate.promote=true",
        f"hydra.sweeper.validate.promote_to={target}",
    )
    proc = run("tie", *args)
    # Every trial is the incumbent's config on the same test seeds: P = 0.5, not above it.
    assert "kept the incumbent: P(champion > incumbent) = 0.50 [" in proc.stdout
    assert "its lower bound is not above 0.5" in proc.stdout
    assert not target.exists()
    study = load("tie")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for t in study.trials:
        scores = [t.user_attrs[f"seed.{s}"]["last"] for s in (0, 1)]
        assert t.user_attrs["seeds"] == [0, 1] and t.value == pytest.approx(np.mean(scores))
        assert sorted(t.intermediate_values) == [128, 256, 384, 512, 640, 768, 896, 1024]

    parent_id = study.user_attrs["mlflow_parent_run_id"]
    children = [r for r in mlflow_runs() if r.data.tags.get("mlflow.parentRunId") == parent_id]
    names = sorted(r.info.run_name for r in children)
    assert names == sorted(
        [f"trial-{n}-s{s}" for n in (0, 1) for s in (0, 1)]
        + [f"retest-t{n}-s{s}" for n in (0, 1) for s in (5000, 5001)]
        + ["incumbent-s5000", "incumbent-s5001", "champion-vs-incumbent"]
    )
    assert all(r.info.status == "FINISHED" for r in children)
    trained = [r for r in children if "seed" in r.data.params]
    tuning = {int(r.data.params["seed"]) for r in trained if "optuna.stage" not in r.data.tags}
    test = {int(r.data.params["seed"]) for r in trained if "optuna.stage" in r.data.tags}
    assert tuning == {0, 1} and test == {5000, 5001}
    n_envs = {int(r.data.params["n_envs"]) for r in trained} | {
        int(r.data.params["eval.final.n_envs"]) for r in trained
    }
    env_seeds = lambda seeds: {s + i for s in seeds for i in range(max(n_envs))}  # noqa: E731
    evaluation = env_seeds({s + 10_000 for s in tuning | test})
    assert not (env_seeds(tuning) & env_seeds(test)) and not (evaluation & env_seeds(test | tuning))

    (comparison,) = [r for r in children if r.info.run_name == "champion-vs-incumbent"]
    assert comparison.data.metrics["improvement/probability"] == 0.5
    assert "kept the incumbent" in comparison.data.tags["decision"]
    client = MlflowClient(tracking.tracking_uri())
    files = {a.path for a in client.list_artifacts(comparison.info.run_id)}
    assert {"validation.md", "validation.png", "best_hparams.yaml"} <= files
    assert "validation_table.json" in files
    # The incumbent was kept, so the sweep's winner is registered as the challenger: a
    # deployment loading @champion is not handed a model that did not beat the incumbent.
    version = client.get_model_version_by_alias("ppo-cartpole", "challenger")
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("ppo-cartpole", "champion")
    assert "(alias challenger)" in proc.stdout
    assert float(version.tags["test_iqm"]) == pytest.approx(
        comparison.data.metrics["champion/test_iqm"], rel=1e-5
    )
    assert version.tags["test_seeds"] == "5000 5001"
    assert Path("sweeps/tie/validation.md").read_text().count("| incumbent |") == 1

    # Rerunning the finished sweep is idempotent: no second comparison run, no second model
    # version of the same source run; it prints the existing result.
    versions = client.search_model_versions("name = 'ppo-cartpole'")
    before = sorted(r.info.run_id for r in mlflow_runs())
    again = run("tie", *args)
    assert sorted(r.info.run_id for r in mlflow_runs()) == before
    assert len(client.search_model_versions("name = 'ppo-cartpole'")) == len(versions) == 1
    assert "kept the incumbent: P(champion > incumbent) = 0.50 [" in again.stdout
    assert f"already recorded: MLflow run {comparison.info.run_id}" in again.stdout
    assert f"models:/ppo-cartpole/{version.version} (already registered" in again.stdout


def test_a_significantly_better_champion_is_promoted(tmp_path: Path) -> None:
    # Q-learning on the inventory task: the incumbent cannot learn (learning rate 0, so it
    # never orders), the one trial can; each of 3 test seeds separates them by thousands.
    target = tmp_path / "promoted.yaml"
    args = [
        *("sweep=qlearning", "algo=qlearning", "env=custom", "n_timesteps=204800"),
        *("eval.freq=0", "eval.final.precision=0", "++algo.learning_rate=0.0"),
        "hydra.sweeper.space=null",
        "hydra.sweeper.space={algo: {learning_rate: {type: categorical, choices: [0.1]}}}",
        *("hydra.sweeper.pruner.name=none", "hydra.sweeper.study_name=better"),
        *("hydra.sweeper.n_trials=1", "hydra.sweeper.validate.top=1"),
        *("hydra.sweeper.validate.seeds=3", "hydra.sweeper.validate.promote=true"),
        f"hydra.sweeper.validate.promote_to={target}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "rl_harness", "-m", *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "promoted trial 0: P(champion > incumbent) = 1.00 [1.00, 1.00]" in proc.stdout
    assert OmegaConf.load(target) == OmegaConf.load("sweeps/better/best_hparams.yaml")
    assert "learning_rate: 0.1" in target.read_text()
    version = MlflowClient(tracking.tracking_uri()).get_model_version_by_alias(
        "qlearning-custom", "champion"
    )
    assert version.tags["optuna.trial"] == "0" and version.tags["test_seeds"] == "5000 5001 5002"


LABELS = {"trial": "trial_0_s1", "retest": "retest_t0_s5000", "incumbent": "incumbent_s5000"}
# What has finished when that job runs (one worker takes the jobs in this order).
DONE_BEFORE = {
    "trial": {"seed.0"},
    "retest": {"seed.0", "seed.1"},
    "incumbent": {"seed.0", "seed.1", "job.retest_t0_s5000", "job.retest_t0_s5001"},
}


def training(study: str, stage: str, proc: subprocess.Popen, log: Path) -> bool:
    """The job of `stage` is training (its run is open: SB3's progress.csv exists) and has no
    result yet; fails if the sweep ended first."""
    if proc.poll() is not None:
        out = log.read_text()[-3000:]
        pytest.fail(f"the sweep ended (exit {proc.returncode}) before a {stage} job ran: {out}")
    return (Path("sweeps") / study / LABELS[stage] / "progress.csv").exists()


@pytest.mark.slow  # ~25 s a stage; the fast suite resumes a killed sweep in test_sweep.py
@pytest.mark.parametrize("stage", ["trial", "retest", "incumbent"])
def test_sigkill_in_any_stage_resumes_without_redoing_finished_work(stage: str) -> None:
    study = f"killed-{stage}"
    args = ["hydra.sweeper.n_trials=1", "hydra.sweeper.validate.top=1", "n_timesteps=2048"]
    log = Path("first.log")
    with log.open("w") as out:
        first = subprocess.Popen(cmd(study, *args), stdout=out, stderr=subprocess.STDOUT)
    wait_for(lambda: training(study, stage, first, log), f"the {stage} job to train", 300)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = load(study)
    done_before = {**before.user_attrs, **before.trials[0].user_attrs}

    run(study, *args)
    after = load(study)
    done_after = {**after.user_attrs, **after.trials[0].user_attrs}
    finished = {
        k: v
        for k, v in done_before.items()
        if k.startswith(("seed.", "job.")) and isinstance(v, dict)
    }
    assert DONE_BEFORE[stage] <= set(finished)
    for key, result in finished.items():  # what had finished was not run again
        assert done_after[key] == result
    runs = mlflow_runs()
    by_name: dict[str, list[str]] = {}
    for r in runs:
        by_name.setdefault(r.info.run_name, []).append(r.info.status)
    for name, statuses in by_name.items():
        assert statuses.count("FINISHED") == 1, (name, statuses)  # each job finished once
        assert "RUNNING" not in statuses
    assert any("FAILED" in s or "KILLED" in s for s in by_name.values())  # the killed one
    assert after.trials[0].state == TrialState.COMPLETE
    assert Path(f"sweeps/{study}/validation.md").exists()


def test_seeds_option_is_checked() -> None:
    bad = subprocess.run(cmd("k0", "hydra.sweeper.seeds=0"), capture_output=True, text=True)
    assert bad.returncode == 2 and "hydra.sweeper.seeds must be an integer ≥ 1" in bad.stderr


@pytest.mark.slow  # ~15 s: a whole one-trial sweep first
def test_seeds_option_cannot_change_within_a_study() -> None:
    run("k", "hydra.sweeper.n_trials=1", "hydra.sweeper.validate.top=0")
    again = subprocess.run(
        cmd(
            "k", "hydra.sweeper.n_trials=1", "hydra.sweeper.validate.top=0", "hydra.sweeper.seeds=3"
        ),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "scores each trial on 2 seed(s)" in again.stderr
