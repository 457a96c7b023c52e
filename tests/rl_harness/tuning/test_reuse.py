"""Reused incumbent runs (tuning/reuse.py): an identical finished incumbent run — same config,
seed, commit on a clean checkout, packages — is found and its scores taken instead of training;
any difference, or uncommitted changes, and the job trains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from rl_harness.common import provenance
from rl_harness.tracking import runs
from rl_harness.training import resume
from rl_harness.tuning import results, reuse, units
from tests.conftest import compose_config
from tests.rl_harness.tuning.test_scheduler import NO_VALIDATION, FakeLaunch, sweep

EXPERIMENT = "CartPole-v1"
CLEAN = provenance.GitState("a" * 40, False, ())
SCORES = {"last": 268.0, "best": 300.0, "auc": 200.0, "timesteps": 10000, "last_ci": None}


def job_cfg(*over: str) -> DictConfig:
    return compose_config(["algo=ppo", "env=cartpole", "seed=5000", *over])


def recorded(tmp: Path, cfg: DictConfig, **tags: str) -> str:
    """A FINISHED incumbent run of `cfg` as a sweep leaves it (tags, resolved config, scores
    tag) on the CLEAN commit with this machine's packages; `tags` replace some."""
    facts = {**provenance.facts(1, git=CLEAN), **provenance.user_code(str(cfg.env.id))}
    own = {"optuna.stage": "incumbent", "optuna.seed": str(cfg.seed)}
    with runs.mlflow_run(EXPERIMENT, tags={**facts, **own, **tags}) as run:
        path = tmp / resume.CONFIG
        OmegaConf.save(cfg, path, resolve=True)
        runs.client().log_artifact(run.run_id, str(path))
    reuse.keep_scores(run.run_id, {**SCORES, "run_id": run.run_id})
    return run.run_id


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "git_state", lambda where=None: CLEAN)


def test_an_identical_finished_incumbent_run_is_reused(tmp_path: Path, clean: None) -> None:
    run_id = recorded(tmp_path, job_cfg())
    found = reuse.finished_twin(job_cfg("+optuna.study=other", "progress_bar=true"), EXPERIMENT)
    assert found == {**SCORES, "run_id": run_id, reuse.REUSED: run_id}
    assert reuse.new_timesteps(found) == 0 and reuse.new_timesteps(SCORES) == 10000


@pytest.mark.parametrize(
    "change",
    [
        {"cfg": ["seed=5001"]},  # another seed
        {"cfg": ["algo.gamma=0.9"]},  # another config
        {"tags": {provenance.COMMIT_TAG: "b" * 40}},  # another commit
        {"tags": {"version.torch": "0.0.1"}},  # another package version
        {"tags": {provenance.DIRTY_TAG: "true"}},  # trained with uncommitted changes
        {"tags": {"resume.exact": "false"}},  # resumed inexactly: may not repeat
        {"tags": {provenance.ENV_VERSION_TAG: "0.0.1"}},  # another version of the env's package
    ],
)
def test_any_difference_trains_again(tmp_path: Path, clean: None, change: dict[str, Any]) -> None:
    recorded(tmp_path, job_cfg(), **change.get("tags", {}))
    assert reuse.finished_twin(job_cfg(*change.get("cfg", [])), EXPERIMENT) is None


def test_nothing_is_reused_from_a_checkout_with_uncommitted_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provenance, "git_state", lambda where=None: CLEAN)
    recorded(tmp_path, job_cfg())
    dirty = provenance.GitState(CLEAN.commit, True, ())
    monkeypatch.setattr(provenance, "git_state", lambda where=None: dirty)
    assert reuse.finished_twin(job_cfg(), EXPERIMENT) is None


def test_a_run_without_its_scores_is_not_reused(tmp_path: Path, clean: None) -> None:
    run_id = recorded(tmp_path, job_cfg())
    runs.client().delete_tag(run_id, reuse.SCORES_TAG)
    assert reuse.finished_twin(job_cfg(), EXPERIMENT) is None


def test_a_sweep_reuses_the_incumbent_runs_and_counts_no_timesteps_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The scheduler asks reuse for each incumbent job: found, the job is not launched, its
    result names the run, and the sweep counts no timesteps for it; re-tests always train."""
    asked: list[DictConfig] = []

    def twin(cfg: DictConfig, experiment: str) -> dict[str, Any] | None:
        asked.append(cfg)
        return {**SCORES, "run_id": f"r{cfg.seed}", reuse.REUSED: f"r{cfg.seed}"}

    from tests.rl_harness.tuning import test_scheduler

    monkeypatch.setattr(reuse, "finished_twin", twin)
    monkeypatch.setattr(test_scheduler, "compose_config", tracked_config)
    launch = FakeLaunch()
    study = sweep(tmp_path, launch, n_trials=2, validate={**NO_VALIDATION, "top": 1})
    assert [j.get("optuna.stage") for j in launch.jobs if j.get("optuna.stage")] == ["retest"] * 2
    assert [int(c.seed) for c in asked] == [5000, 5001]
    assert asked[0].optuna.stage == "incumbent"
    jobs = units.job_results(study)
    assert jobs["incumbent_s5000"][reuse.REUSED] == "r5000"
    counts = results.counts(study.get_trials(deepcopy=False), jobs)
    assert counts["reused_runs"] == 2 and counts["validation_timesteps"] == 2 * 100  # re-tests
    assert "incumbent-s5001: last 268 (reused run r5001:" in capsys.readouterr().out


def test_a_trained_incumbent_run_keeps_its_scores_for_later_sweeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tracked(FakeLaunch):
        def score(self, job: list[str]) -> tuple[Any, str | None]:
            scores, error = super().score(job)
            with runs.mlflow_run(EXPERIMENT) as run:
                pass
            return {**scores, "run_id": run.run_id}, error

    from tests.rl_harness.tuning import test_scheduler

    monkeypatch.setattr(reuse, "finished_twin", lambda cfg, experiment: None)
    monkeypatch.setattr(test_scheduler, "compose_config", tracked_config)
    study = sweep(tmp_path, Tracked(), n_trials=1, validate={**NO_VALIDATION, "top": 1})
    jobs = units.job_results(study)
    for label in ("incumbent_s5000", "incumbent_s5001"):
        tags = runs.client().get_run(jobs[label]["run_id"]).data.tags
        assert json.loads(tags[reuse.SCORES_TAG])["last"] == jobs[label]["last"]
    retest = runs.client().get_run(jobs["retest_t0_s5000"]["run_id"]).data.tags
    assert reuse.SCORES_TAG not in retest


def tracked_config(over: list[str]) -> DictConfig:
    """compose_config with MLflow left on (the scheduler tests turn it off)."""
    return compose_config([o for o in over if o != "mlflow.enabled=false"])
