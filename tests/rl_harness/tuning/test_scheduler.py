"""The sweep's scheduler without Hydra's sweeper or launcher: a fake `launch` scores each job from
its overrides at once, so ask, tell, seeds, resume, failures, validation and promotion are
checked in-process in seconds. (test_sweep.py and test_validation.py run the real CLI.)"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import DictConfig, OmegaConf, open_dict

from rl_harness.common import liveness
from rl_harness.config import preflight
from rl_harness.tuning import scheduler, storage
from tests.conftest import compose_config
from tests.waiting import wait_for

SPACE = {"algo": {"gamma": {"type": "float", "low": 0.9, "high": 0.999}}}
NO_VALIDATION = {
    "top": 0,
    "seeds": 2,
    "seed_offset": 5000,
    "promote": False,
    "promote_to": None,
    "model_name": None,
}


def options(**over: Any) -> dict[str, Any]:
    base = {
        "study_name": "fake",
        "storage": None,
        "direction": "maximize",
        "n_trials": 3,
        "n_workers": 1,
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "space": OmegaConf.create(SPACE),
        "retry_interrupted": True,
        "worker": 0,
        "spawned": False,
        "seeds": 1,
        "race": True,
        "objective": {"metric": "last", "aggregate": "mean"},
        "validate": dict(NO_VALIDATION),
    }
    return {**base, **over}


def primary(tmp: Path) -> DictConfig:
    """The sweep's config as Hydra would hand it over: the job's keys and a `hydra` node."""
    cfg = compose_config(["algo=ppo", "env=cartpole", "mlflow.enabled=false"])
    with open_dict(cfg):
        cfg.hydra = {
            "sweep": {"dir": str(tmp / "sweeps" / "fake")},
            "runtime": {"choices": {"sweep": "ppo", "env": "cartpole"}},
            "overrides": {"hydra": []},
        }
    return cfg


def value_of(job: list[str]) -> dict[str, str]:
    """A job's overrides as key → value (Hydra's quotes taken off)."""
    pairs = (a.lstrip("+").split("=", 1) for a in job if "=" in a)
    return {k: v.strip("'") for k, v in pairs}


class FakeLaunch:
    """Scores a job at once: gamma × 100 plus its seed, the incumbent 10 below; threads named
    like the heartbeat's are counted while each job runs."""

    def __init__(self, fail_trials: tuple[int, ...] = (), with_run: bool = False) -> None:
        self.jobs: list[dict[str, str]] = []
        self.fail_trials = fail_trials
        self.with_run = with_run  # open an MLflow run, as a real job does
        self.heartbeat_threads: list[int] = []

    def __call__(self, job: list[str], index: int) -> tuple[Any, str | None]:
        if not self.with_run:
            return self.score(job)
        from rl_harness.tracking import runs

        with runs.mlflow_run("fake-jobs") as run:
            client = runs.client()
            wait_for(
                lambda: client.get_run(run.run_id).data.tags.get(runs.HEARTBEAT_TAG),
                "the run's first heartbeat",
            )
            return self.score(job)

    def score(self, job: list[str]) -> tuple[Any, str | None]:
        names = [t.name for t in threading.enumerate()]
        self.heartbeat_threads.append(names.count(liveness.THREAD_NAME))
        v = value_of(job)
        self.jobs.append(v)
        if v.get("optuna.trial") and int(v["optuna.trial"]) in self.fail_trials:
            return None, "RuntimeError: boom"
        gamma = float(v.get("algo.gamma", 0.98))
        score = 100 * gamma + int(v.get("seed", 0)) % 10
        if v.get("optuna.stage") == "incumbent":
            score -= 10
        scores = {"last": score, "best": score, "auc": score, "timesteps": 100}
        return {**scores, "last_ci": None, "run_id": None, "optimum": None}, None


def sweep(tmp: Path, launch: FakeLaunch, **over: Any) -> optuna.Study:
    cfg = primary(tmp)
    scheduler.Scheduler(options(**over), cfg, launch, compose).run(["algo=ppo", "env=cartpole"])
    url = over.get("storage") or str(tmp / "sweeps" / "fake" / "optuna.journal")
    return optuna.load_study(study_name="fake", storage=storage.open_storage(url))


def compose(overrides: list[str]) -> DictConfig:
    return compose_config([*overrides, "mlflow.enabled=false"])


def test_every_trial_is_asked_launched_and_told_and_the_best_exported(tmp_path: Path) -> None:
    launch = FakeLaunch()
    study = sweep(tmp_path, launch)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert [j["optuna.trial"] for j in launch.jobs] == ["0", "1", "2"]
    assert all(j["optuna.study"] == "fake" and "optuna.storage" in j for j in launch.jobs)
    for t, job in zip(study.trials, launch.jobs, strict=True):
        assert t.value == pytest.approx(100 * float(job["algo.gamma"]))
    out = tmp_path / "sweeps" / "fake"
    assert (out / "summary.txt").is_file()
    best = OmegaConf.load(out / "best_hparams.yaml")
    assert best.algo.gamma == pytest.approx(study.best_trial.params["algo.gamma"])


def test_a_resume_runs_only_the_trials_left_and_a_failed_job_fails_its_trial_only(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sweep(tmp_path, FakeLaunch(fail_trials=(1,)), n_trials=2)
    launch = FakeLaunch()
    study = sweep(tmp_path, launch, n_trials=4)
    assert [j["optuna.trial"] for j in launch.jobs] == ["2", "3"]
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert study.trials[1].user_attrs["error"] == "RuntimeError: boom"
    assert "trial 1: FAIL: RuntimeError: boom" in capsys.readouterr().out


def test_k_seeds_run_as_jobs_of_their_own_and_the_trial_takes_their_mean(tmp_path: Path) -> None:
    launch = FakeLaunch()
    study = sweep(tmp_path, launch, n_trials=2, seeds=3, race=False)
    assert [(j["optuna.trial"], j["seed"]) for j in launch.jobs] == [
        (str(t), str(s)) for t in (0, 1) for s in (0, 1, 2)
    ]
    for t in study.trials:
        assert t.value == pytest.approx(100 * t.params["algo.gamma"] + 1)  # seeds 0, 1, 2


class ScriptedLaunch(FakeLaunch):
    """Scores seed s of trial t as `scores[t][s]` (trials past the script: the last row)."""

    def __init__(self, scores: list[list[float]], stop_at: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.scripted, self.stop_at = scores, stop_at

    def score(self, job: list[str]) -> tuple[Any, str | None]:
        v = value_of(job)
        if v.get("optuna.stage"):  # a re-test or the incumbent: counted apart
            scores = {"last": 0.0, "best": 0.0, "auc": 0.0, "timesteps": 100}
            return {**scores, "last_ci": None, "run_id": None, "optimum": None}, None
        t, s = int(v["optuna.trial"]), int(v["seed"])
        if (t, s) == self.stop_at:
            self.stop_at = None
            raise KeyboardInterrupt  # the worker stopped while this seed ran
        self.jobs.append(v)
        x = self.scripted[min(t, len(self.scripted) - 1)][s]
        scores = {"last": x, "best": x, "auc": x, "timesteps": 100}
        return {**scores, "last_ci": None, "run_id": None, "optimum": None}, None


def seeds_run(launch: FakeLaunch) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for j in launch.jobs:
        out.setdefault(int(j["optuna.trial"]), []).append(int(j["seed"]))
    return out


# trial 0 sets the bar (mean 400); trial 1 is clearly worse after one seed, trial 2 competitive
# (its seeds so far stay above 400), trial 3 falls behind after two seeds
RACE = [[400, 400, 400], [100, 500, 500], [450, 420, 480], [460, 300, 900]]


def test_raced_seeds_stop_a_clearly_worse_trial_and_run_a_competitive_one_to_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    launch = ScriptedLaunch(RACE)
    study = sweep(tmp_path, launch, n_trials=4, seeds=3)
    assert seeds_run(launch) == {0: [0, 1, 2], 1: [0], 2: [0, 1, 2], 3: [0, 1]}
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED"]
    assert [t.user_attrs.get("raced_out") for t in study.trials] == [None, 1, None, 2]
    assert study.best_trial.number == 2 and study.best_value == pytest.approx(450)
    assert "trial 1: PRUNED (out of the race after 1 of 3 seeds)" in capsys.readouterr().out


def test_race_false_runs_every_seed(tmp_path: Path) -> None:
    launch = ScriptedLaunch(RACE)
    study = sweep(tmp_path, launch, n_trials=4, seeds=3, race=False)
    assert seeds_run(launch) == {t: [0, 1, 2] for t in range(4)}
    assert study.best_trial.number == 3  # (460 + 300 + 900) / 3


def test_the_bar_is_the_validated_tops_last_complete_trial(tmp_path: Path) -> None:
    """With top 2 re-tested, a trial runs on while it beats the second best complete trial."""
    launch = ScriptedLaunch([[400, 400, 400], [100, 100, 100], [150, 100, 100]])
    sweep(tmp_path, launch, n_trials=3, seeds=3, validate={**NO_VALIDATION, "top": 2})
    # trials 0 and 1 set the bar (the second best: 100); trial 2 stays above it for two seeds
    assert seeds_run(launch) == {0: [0, 1, 2], 1: [0, 1, 2], 2: [0, 1, 2]}
    launch = ScriptedLaunch([[400, 400, 400], [100, 100, 100], [50, 100, 100]])
    sweep(tmp_path / "b", launch, n_trials=3, seeds=3, validate={**NO_VALIDATION, "top": 2})
    assert seeds_run(launch) == {0: [0, 1, 2], 1: [0, 1, 2], 2: [0]}


def test_minimizing_a_trial_races_on_while_its_seeds_so_far_stay_below_the_bar(
    tmp_path: Path,
) -> None:
    launch = ScriptedLaunch([[100, 100, 100], [400, 0, 0], [90, 95, 120]])
    study = sweep(tmp_path, launch, n_trials=3, seeds=3, direction="minimize")
    assert seeds_run(launch) == {0: [0, 1, 2], 1: [0], 2: [0, 1, 2]}
    assert study.best_trial.number == 0  # (90 + 95 + 120) / 3 > 100


def test_race_must_be_true_or_false(tmp_path: Path) -> None:
    launch = FakeLaunch()
    with pytest.raises(SystemExit) as exit_:
        scheduler.main(options(race="yes"), primary(tmp_path), launch, compose, [])
    assert exit_.value.code == 2 and not launch.jobs


def test_a_raced_sweep_stopped_mid_seed_resumes(tmp_path: Path) -> None:
    """Stopped while trial 2's second seed ran: the next session runs that seed and the rest."""
    with pytest.raises(KeyboardInterrupt):
        sweep(tmp_path, ScriptedLaunch(RACE, stop_at=(2, 1)), n_trials=4, seeds=3)
    launch = ScriptedLaunch(RACE)
    study = sweep(tmp_path, launch, n_trials=4, seeds=3)
    assert seeds_run(launch) == {2: [1, 2], 3: [0, 1]}
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED"]


def test_a_worker_killed_before_deciding_leaves_the_decision_to_the_next_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after trial 1's first seed was recorded, before the trial was told: the next
    session sees it out of the race and ends it without running its next seed."""
    from rl_harness.tuning import asktell

    real = asktell.finish_trial
    calls = {"n": 0}

    def dies_once(s: Any, tid: int, ended: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # trial 0: seeds 0-2 (3 calls), then trial 1's first seed
            raise SystemExit("killed")
        real(s, tid, ended)

    monkeypatch.setattr(asktell, "finish_trial", dies_once)
    with pytest.raises(SystemExit):
        sweep(tmp_path, ScriptedLaunch(RACE), n_trials=4, seeds=3)
    monkeypatch.setattr(asktell, "finish_trial", real)
    study = optuna.load_study(
        study_name="fake",
        storage=storage.open_storage(str(tmp_path / "sweeps" / "fake" / "optuna.journal")),
    )
    assert study.trials[1].state.name == "RUNNING"
    launch = ScriptedLaunch(RACE)
    study = sweep(tmp_path, launch, n_trials=4, seeds=3)
    assert 1 not in seeds_run(launch)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED"]
    assert study.trials[1].user_attrs["raced_out"] == 1


@pytest.mark.parametrize("url", ["journal", "sqlite"])
def test_a_job_runs_one_heartbeat_thread(tmp_path: Path, url: str) -> None:
    """A k > 1 seed job on an RDB storage: the worker renews its claim and beats for its trial
    in Optuna, and the job's MLflow run tags its heartbeat — three actions, one thread (three
    threads before common.liveness). A journal storage has no Optuna heartbeat."""
    launch = FakeLaunch(with_run=True)
    storage_url = f"sqlite:///{tmp_path / 'optuna.db'}" if url == "sqlite" else None
    sweep(tmp_path, launch, n_trials=1, seeds=2, storage=storage_url)
    assert launch.heartbeat_threads == [1, 1]


def test_a_hydra_sweep_argument_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    launch = FakeLaunch()
    with pytest.raises(SystemExit) as exit_:
        scheduler.main(options(), primary(tmp_path), launch, compose, [], swept=["seed=1,2"])
    assert exit_.value.code == 2 and not launch.jobs
    assert "give search ranges in hydra.sweeper.space" in capsys.readouterr().err


# ---------------------------------------------------------------- validation and promotion

VALIDATED = {**NO_VALIDATION, "top": 1, "seeds": 3, "promote": True}


def fake_conf(root: Path) -> Path:
    """A copy of the shipped conf/hparams/ppo_cartpole.yaml at `root`/hparams."""
    conf = root / "conf"
    (conf / "hparams").mkdir(parents=True)
    shutil.copy(preflight.CONF_DIR / "hparams" / "ppo_cartpole.yaml", conf / "hparams")
    return conf


def test_from_a_source_checkout_the_champion_replaces_the_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    conf = fake_conf(tmp_path / "checkout")
    monkeypatch.setattr(preflight, "CONF_DIR", conf)
    sweep(tmp_path, FakeLaunch(), n_trials=2, validate=VALIDATED)
    promoted = OmegaConf.load(conf / "hparams" / "ppo_cartpole.yaml")
    assert promoted.algo.gamma != 0.98  # the champion's, over the shipped one
    out = capsys.readouterr().out
    assert f"wrote {conf / 'hparams' / 'ppo_cartpole.yaml'}" in out
    assert not (tmp_path / "user_conf").exists()


def test_from_an_installed_package_the_champion_goes_to_the_user_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    conf = fake_conf(tmp_path / "lib" / "python3.11" / "site-packages" / "rl_harness")
    shipped = (conf / "hparams" / "ppo_cartpole.yaml").read_text()
    monkeypatch.setattr(preflight, "CONF_DIR", conf)
    user = tmp_path / "user_conf"  # RL_HARNESS_CONFIG_DIR (tests/conftest.py)
    sweep(tmp_path, FakeLaunch(), n_trials=2, validate=VALIDATED)
    assert (conf / "hparams" / "ppo_cartpole.yaml").read_text() == shipped  # never written
    written = user / "hparams" / "ppo_cartpole.yaml"
    assert OmegaConf.load(written).algo.gamma != 0.98
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if "promoted" in ln]
    assert f"wrote {written} (the user config directory" in line
