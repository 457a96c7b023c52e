"""Raced seeds and the pruner (race.py, search.py): raced-out trials count for the median pruner
as finished ones, and a trial behind running others waits while they run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from rl_harness.tuning import asktell, race, storage, units
from rl_harness.tuning import job as jobs
from rl_harness.tuning import search as searches
from rl_harness.tuning.objective import Aggregate
from rl_harness.tuning.validation import Settings
from tests.rl_harness.tuning.test_scheduler import ScriptedLaunch, seeds_run, sweep

MEDIAN = {"name": "median", "median": {"n_startup_trials": 3, "n_warmup_steps": 0}}


def finished(study: optuna.Study, curve: list[float], raced_out: int | None) -> None:
    """A trial that reported `curve` at steps 0, 1, ...: COMPLETE (value: its last point), or
    PRUNED after `raced_out` seeds."""
    trial = study.ask()
    for step, value in enumerate(curve):
        trial.report(value, step)
    if raced_out is None:
        study.tell(trial, curve[-1])
    else:
        trial.set_user_attr(race.RACED_OUT, raced_out)
        study.tell(trial, state=TrialState.PRUNED)


def pruned_at_step_1(study: optuna.Study, pruner: optuna.pruners.BasePruner) -> bool:
    """Whether a new trial that scores 100 at steps 0 and 1 is pruned at step 1."""
    trial = study.ask()
    trial.report(100.0, 0)
    trial.report(100.0, 1)
    return pruner.prune(study, study._storage.get_trial(trial._trial_id))


@pytest.mark.parametrize("name", ["median", "percentile"])
def test_raced_out_trials_count_for_the_pruner_as_finished_ones(name: str) -> None:
    """Three trials raced out after their first seed and none complete: Optuna's pruner waits
    for three COMPLETE trials and prunes nothing; ours compares with the raced-out trials."""
    spec = {"name": name, name: {"n_startup_trials": 3, "n_warmup_steps": 0}}
    if name == "percentile":
        spec[name]["percentile"] = 50.0
    ours = searches.make_pruner(spec)
    assert type(ours).__name__ == {"median": "MedianPruner", "percentile": "PercentilePruner"}[name]
    study = optuna.create_study(direction="maximize")
    for _ in range(3):
        finished(study, [300.0, 400.0], raced_out=1)
    optunas = optuna.pruners.PercentilePruner(50.0, n_startup_trials=3)
    assert not pruned_at_step_1(study, optunas)
    assert pruned_at_step_1(study, ours)


def test_without_raced_out_trials_the_pruner_decides_as_optunas_does() -> None:
    """A study without raced seeds (k = 1): a PRUNED trial the pruner stopped is not counted,
    as in Optuna; once three trials complete, both prune the same trial."""
    ours = searches.make_pruner(MEDIAN)
    optunas = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    study = optuna.create_study(direction="maximize")
    for _ in range(3):
        finished(study, [300.0, 400.0], raced_out=None)
    finished(study, [10.0, 20.0], raced_out=None)
    study.tell(study.ask(), state=TrialState.PRUNED)  # stopped by the pruner: not counted
    assert pruned_at_step_1(study, ours) and pruned_at_step_1(study, optunas)
    fresh = optuna.create_study(direction="maximize")
    for _ in range(2):
        finished(fresh, [300.0, 400.0], raced_out=None)
    for _ in range(3):
        trial = fresh.ask()
        trial.report(500.0, 0)
        fresh.tell(trial, state=TrialState.PRUNED)
    assert not pruned_at_step_1(fresh, ours)  # two complete trials: not started yet


# ---------------------------------------------------------------- which seed runs next


def state(tmp: Path, top: int = 1, direction: str = "maximize") -> SimpleNamespace:
    """What next_unit reads of a worker: a 3-seed raced study on a journal, all trials asked."""
    url = str(tmp / "optuna.journal")
    study = optuna.create_study(
        study_name="w", storage=storage.open_storage(url), direction=direction
    )
    checks = Settings(top, 5, 5000, False, None, None)
    return SimpleNamespace(
        study=study, storage=study._storage, k=3, race=True, n_trials=0, metric="last",
        how=Aggregate("mean"), checks=checks, options={"direction": direction},
    )  # fmt: skip


def running(s: SimpleNamespace, scores: list[float]) -> int:
    """A running trial whose first seeds scored `scores`; its number."""
    trial = s.study.ask()
    trial.set_user_attr("seeds", [0, 1, 2])
    for seed, x in enumerate(scores):
        trial.set_user_attr(f"seed.{seed}", {"last": x, "timesteps": 100})
    return trial.number


def complete(s: SimpleNamespace, value: float) -> None:
    trial = s.study.ask()
    trial.set_user_attr("seeds", [0, 1, 2])
    for seed in range(3):
        trial.set_user_attr(f"seed.{seed}", {"last": value, "timesteps": 100})
    s.study.tell(trial, value)


def test_the_trial_ahead_runs_its_next_seed_first_and_the_one_behind_waits(
    tmp_path: Path,
) -> None:
    s = state(tmp_path)
    running(s, [300.0])  # behind
    ahead = running(s, [450.0])
    unit = asktell.next_unit(s)
    assert isinstance(unit, units.Unit) and (unit.trial, unit.index) == (ahead, 1)
    assert asktell.next_unit(s) == asktell.WAIT  # `behind` waits while `ahead` runs seed 1


def test_a_running_trial_is_ahead_by_the_same_number_of_seeds(tmp_path: Path) -> None:
    """Trial 1 (two seeds, mean 350) is ahead of trial 0 (one seed, 400) by its first seed
    (500): paired, not by its mean so far; trial 1 itself has nobody ahead and runs on."""
    s = state(tmp_path)
    running(s, [400.0])
    second = running(s, [500.0, 200.0])
    trials = s.study.get_trials(deepcopy=False)
    assert race.waits(trials[0], trials, "last", "mean", 1, "maximize")
    assert not race.waits(trials[second], trials, "last", "mean", 1, "maximize")


def test_with_top_2_a_trial_waits_only_behind_two(tmp_path: Path) -> None:
    s = state(tmp_path, top=2)
    complete(s, 480.0)
    running(s, [450.0])
    third = running(s, [300.0])
    trials = s.study.get_trials(deepcopy=False)
    args: tuple[Any, ...] = ("last", "mean", 2, "maximize")
    assert race.waits(trials[third], trials, *args)  # behind the complete 480 and 450
    assert not race.waits(trials[1], trials, *args)  # behind the complete one only
    assert not race.waits(trials[third], trials, "last", "mean", 3, "maximize")


def test_minimizing_the_lower_trial_is_ahead(tmp_path: Path) -> None:
    s = state(tmp_path, direction="minimize")
    running(s, [300.0])
    running(s, [450.0])
    trials = s.study.get_trials(deepcopy=False)
    assert race.waits(trials[1], trials, "last", "mean", 1, "minimize")
    assert not race.waits(trials[0], trials, "last", "mean", 1, "minimize")


def test_a_first_seed_a_tie_or_a_pruned_trial_ahead_makes_no_one_wait(tmp_path: Path) -> None:
    s = state(tmp_path)
    fresh = running(s, [])
    tied = running(s, [450.0])
    other = running(s, [450.0])
    stopped = running(s, [500.0])
    s.storage.set_trial_user_attr(s.study.trials[stopped]._trial_id, "pruned_at", 4000)
    trials = s.study.get_trials(deepcopy=False)
    for number in (fresh, tied, other):
        assert not race.waits(trials[number], trials, "last", "mean", 1, "maximize")


def test_a_waiting_trial_runs_on_once_the_trial_ahead_completes_below_it(
    tmp_path: Path,
) -> None:
    """The trial ahead completes at 350 (its later seeds were poor): the bar is 350, and the
    trial that waited (400 so far) runs its next seed."""
    s = state(tmp_path)
    waited = running(s, [400.0])
    complete(s, 350.0)
    unit = asktell.next_unit(s)
    assert isinstance(unit, units.Unit) and (unit.trial, unit.index) == (waited, 1)


# ---------------------------------------------------------------- the pruner and later seeds


def seed_report(tmp: Path, index: int | None) -> jobs.TrialReport:
    """The report callback a job of trial 0's seed `index` gets (None: a one-seed trial)."""
    journal = str(tmp / "o.journal")
    if not (tmp / "o.journal").exists():
        study = optuna.create_study(
            study_name="p", storage=storage.open_storage(journal), direction="maximize"
        )
        study.ask()
    keys: dict[str, Any] = {"study": "p", "storage": journal, "trial": 0}
    if index is not None:
        keys["seed_index"] = index
    cfg = OmegaConf.create({"seed": index or 0, "n_timesteps": 200, "optuna": keys})
    [report] = jobs.job_hooks(cfg)["after_eval"]
    return report


def test_only_a_raced_trials_first_seed_asks_the_pruner(tmp_path: Path) -> None:
    """A later seed runs because the trial beat the race's bar; the pruner, which would stop
    it here, is not asked, and the seed still reports its evaluation."""
    assert seed_report(tmp_path, None).prunes and seed_report(tmp_path, 0).prunes
    later = seed_report(tmp_path, 1)
    assert not later.prunes
    later.trial.study.pruner = optuna.pruners.ThresholdPruner(lower=100.0)
    later.parent = SimpleNamespace(last_mean_reward=50.0)
    later.num_timesteps = 100
    assert later._on_step() is True and later.pruned_at is None
    assert later.trial.study.trials[0].intermediate_values == {300: 50.0}  # 1 × 200 + 100
    first = seed_report(tmp_path, 0)
    first.trial.study.pruner = optuna.pruners.ThresholdPruner(lower=100.0)
    first.parent, first.num_timesteps = SimpleNamespace(last_mean_reward=50.0), 100
    assert first._on_step() is False and first.pruned_at == 100


def test_without_raced_seeds_every_seed_asks_the_pruner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra.core.hydra_config import HydraConfig

    sweeper = OmegaConf.create({"race": False, "pruner": None})
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: SimpleNamespace(sweeper=sweeper)))
    assert seed_report(tmp_path, 1).prunes and seed_report(tmp_path, 2).prunes


# ---------------------------------------------------------------- the paired bar


def test_a_trial_behind_the_leader_on_the_seeds_both_ran_is_out(tmp_path: Path) -> None:
    """Trial 0 leads at mean 400 after 500 on seed 0. Trial 1's first seed (450) beats the mean
    but not the leader's 500 on the same seed: out after one seed. Trial 2 ties it on seed 0 and
    runs on, until its two seeds (375) fall below the mean."""
    launch = ScriptedLaunch([[500, 300, 400], [450, 600, 600], [500, 250, 900]])
    study = sweep(tmp_path, launch, n_trials=3, seeds=3)
    assert seeds_run(launch) == {0: [0, 1, 2], 1: [0], 2: [0, 1]}
    assert [t.user_attrs.get("raced_out") for t in study.trials] == [None, 1, 2]


def test_the_paired_bar_is_the_top_th_trials_aggregate_over_as_many_seeds(tmp_path: Path) -> None:
    s = state(tmp_path, top=2)
    complete(s, 480.0)  # its seeds: 480, 480, 480
    second = s.study.ask()
    second.set_user_attr("seeds", [0, 1, 2])
    for seed, x in enumerate([300.0, 500.0, 400.0]):
        second.set_user_attr(f"seed.{seed}", {"last": x, "timesteps": 100})
    s.study.tell(second, 400.0)
    trials = s.study.get_trials(deepcopy=False)
    assert race.paired_bar(trials, 2, "maximize", 1, "last", "mean") == 300.0
    assert race.paired_bar(trials, 2, "maximize", 2, "last", "mean") == 400.0
    assert race.paired_bar(trials, 1, "maximize", 1, "last", "mean") == 480.0
    assert race.paired_bar(trials, 3, "maximize", 1, "last", "mean") is None
    assert race.paired_bar(trials, 1, "minimize", 1, "last", "mean") == 300.0


def test_before_any_bar_a_second_seed_waits_for_another_trials_first(tmp_path: Path) -> None:
    """Trial 0 scored 9 on its first seed while trial 1's first seed still runs: with no bar
    yet, trial 0 waits for it rather than run all three seeds; once trial 1 scores 155, trial
    1 goes on and trial 0 waits behind it."""
    s = state(tmp_path)
    early = running(s, [9.0])
    later = running(s, [])
    trials = s.study.get_trials(deepcopy=False)
    args: tuple[Any, ...] = ("last", "mean", 1, "maximize")
    assert race.waits(trials[early], trials, *args)
    s.storage.set_trial_user_attr(trials[later]._trial_id, "seed.0", {"last": 155.0})
    trials = s.study.get_trials(deepcopy=False)
    assert race.waits(trials[early], trials, *args)
    assert not race.waits(trials[later], trials, *args)
    complete(s, 100.0)  # a bar exists: trial 0 is simply out of the race
    trials = s.study.get_trials(deepcopy=False)
    assert race.raced_out(trials[early], trials, 3, "last", "mean", 1, "maximize")
