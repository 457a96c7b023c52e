"""Optuna sweeps: search spaces, pruning, resume after SIGKILL, parallel workers, MLflow, export.

Sweeps run as the user runs them (`python -m rl_harness -m sweep=...`, in a subprocess) on tiny
budgets: CartPole, PPO with n_steps=64, 512 timesteps, an evaluation every 128.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.utils import JobReturn, JobStatus
from mlflow import MlflowClient
from omegaconf import OmegaConf, open_dict
from optuna.trial import TrialState

from rl_harness.build import registry as algos
from rl_harness.common import liveness
from rl_harness.config.preflight import CONF_DIR
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking
from rl_harness.training import train
from rl_harness.tuning import job as jobs
from rl_harness.tuning import search as searches
from rl_harness.tuning import space as spaces
from rl_harness.tuning import storage as storages
from rl_harness.tuning import trials as trial_book
from rl_harness.tuning import versions
from rl_harness.tuning.asktell import outcome
from rl_harness.tuning.state import Launched
from tests.conftest import compose_config, skip_without_postgres
from tests.waiting import wait_for

SPACE = (
    "hydra.sweeper.space={algo: {learning_rate: {type: float, low: 1e-4, high: 3e-3, "
    "log: true}, gamma: {type: categorical, choices: [0.9, 0.99]}, policy_kwargs: "
    "{net_arch: {type: categorical, choices: {a: [16], b: [32, 32]}}}}}"
)
TINY = [
    "sweep=ppo",
    "env=cartpole",
    "n_envs=1",
    "n_timesteps=512",
    "eval.freq=128",
    "eval.episodes=2",
    "algo.n_steps=64",
    "algo.batch_size=64",
    "algo.n_epochs=2",
    "hydra.sweeper.space=null",
    SPACE,
    "hydra.sweeper.sampler.seed=0",
    "hydra.sweeper.pruner.name=none",
    "hydra.sweeper.validate.top=0",  # validation: tests/rl_harness/tuning/test_validation.py
]
EXPERIMENT = "CartPole-v1"


def sweep_cmd(study: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rl_harness",
        "-m",
        *TINY,
        f"hydra.sweeper.study_name={study}",
        *args,
    ]


def run_sweep(study: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(sweep_cmd(study, *args), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "database is locked" not in proc.stderr
    return proc


def load(study: str, storage: str | None = None) -> optuna.Study:
    url = storage or str(Path("sweeps") / study / "optuna.journal")
    return optuna.load_study(study_name=study, storage=storages.open_storage(url))


def mlflow_runs() -> list:
    client = MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([exp.experiment_id], max_results=1000)


def children_of(parent_id: str) -> list:
    return [r for r in mlflow_runs() if r.data.tags.get("mlflow.parentRunId") == parent_id]


# ---------------------------------------------------------------- search spaces


def space_cfg(space: dict, overrides: list[str] | None = None):
    return spaces.parse_space(OmegaConf.create(space), compose_config(overrides or []))


def test_space_parses_every_kind_and_writes_overrides_hydra_reads_back() -> None:
    params = space_cfg(
        {
            "algo": {
                "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
                "n_epochs": {"type": "int", "low": 1, "high": 20, "step": 2},
                "clip_range": {"type": "categorical", "choices": [0.1, 0.2]},
                "policy_kwargs": {
                    "net_arch": {
                        "type": "categorical",
                        "choices": {"small": [64], "split": {"pi": [8], "vf": [16]}},
                    },
                    "activation_fn": {"type": "categorical", "choices": ["tanh", "relu"]},
                },
            },
            "n_envs": {"type": "categorical", "choices": [[1], [2]]},
        }
    )
    dists = spaces.distributions(params)
    assert dists["algo.learning_rate"] == optuna.distributions.FloatDistribution(
        1e-5, 1e-2, log=True
    )
    assert dists["algo.n_epochs"] == optuna.distributions.IntDistribution(1, 19, step=2)
    assert dists["algo.policy_kwargs.net_arch"].choices == ("small", "split")
    assert dists["n_envs"].choices == ("[1]", "[2]")
    sampled = {
        "algo.learning_rate": 1.5e-4,
        "algo.n_epochs": 5,
        "algo.clip_range": 0.2,
        "algo.policy_kwargs.net_arch": "split",
        "algo.policy_kwargs.activation_fn": "relu",
        "n_envs": "[2]",
    }
    cfg = compose_config(spaces.overrides(params, sampled))
    assert cfg.algo.learning_rate == 1.5e-4 and cfg.algo.n_epochs == 5
    assert OmegaConf.to_container(cfg.algo.policy_kwargs) == {
        "net_arch": {"pi": [8], "vf": [16]},
        "activation_fn": "relu",
    }
    assert cfg.n_envs == [2]  # a structured choice, written back whole
    # a schedule from conf/hparams (ppo_cartpole) is replaced by the sampled float
    assert compose_config(["algo=ppo", *spaces.overrides(params, sampled)]).algo.clip_range == 0.2


def test_a_resume_whose_space_no_longer_holds_a_live_trial_is_refused_in_one_line() -> None:
    nets = {"small": [64, 64], "big": [256, 256]}
    lr = {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    before = space_cfg(
        {
            "algo": {
                "learning_rate": lr,
                "policy_kwargs": {"net_arch": {"type": "categorical", "choices": nets}},
            }
        }
    )
    study = optuna.create_study()
    for number, (net, state) in enumerate(
        [("small", TrialState.COMPLETE), ("big", TrialState.RUNNING)]
    ):
        study.add_trial(
            optuna.trial.create_trial(
                params={"algo.learning_rate": 1e-3, "algo.policy_kwargs.net_arch": net},
                distributions=spaces.distributions(before),
                value=1.0 if state == TrialState.COMPLETE else None,
                state=state,
            )
        )
        assert study.trials[number].state == state
    spaces.check_resumable(before, study.trials, "s")  # the same space resumes

    no_big = space_cfg(
        {
            "algo": {
                "learning_rate": lr,
                "policy_kwargs": {
                    "net_arch": {"type": "categorical", "choices": {"small": [64, 64]}}
                },
            }
        }
    )
    with pytest.raises(ConfigError) as e:
        spaces.check_resumable(no_big, study.trials, "s")
    assert str(e.value) == (
        "study 's' trial 1: algo.policy_kwargs.net_arch=big lies outside this space (choices "
        "small); resume with the space the study was started with, or a new "
        "hydra.sweeper.study_name"
    )
    narrower = space_cfg({"algo": {"learning_rate": {**lr, "low": 2e-3}}})
    with pytest.raises(
        ConfigError,
        match="trial 0: its parameters differ from this space's in algo.policy_kwargs.net_arch",
    ):
        spaces.check_resumable(narrower, study.trials, "s")
    # a pruned trial never runs again: its dropped choice does not block the resume
    pruned = optuna.create_study()
    pruned.add_trial(
        optuna.trial.create_trial(
            params={"algo.learning_rate": 1e-3, "algo.policy_kwargs.net_arch": "big"},
            distributions=spaces.distributions(before),
            state=TrialState.PRUNED,
        )
    )
    spaces.check_resumable(no_big, pruned.trials, "s")
    # a queued retry holds its values as fixed params, not params, until a worker starts it
    queued = optuna.create_study()
    queued.enqueue_trial({"algo.learning_rate": 1e-3, "algo.policy_kwargs.net_arch": "big"})
    assert queued.trials[0].state == TrialState.WAITING and queued.trials[0].params == {}
    spaces.check_resumable(before, queued.trials, "s")
    with pytest.raises(ConfigError, match="trial 0: algo.policy_kwargs.net_arch=big lies outside"):
        spaces.check_resumable(no_big, queued.trials, "s")
    # a trial just asked for holds no values, or some, while its worker samples the rest
    asked = optuna.create_study()
    asked.ask()
    asked.enqueue_trial({"algo.learning_rate": 1e-3})
    asked.ask({"algo.learning_rate": spaces.distributions(before)["algo.learning_rate"]})
    assert [t.params for t in asked.trials] == [{}, {"algo.learning_rate": 1e-3}]
    spaces.check_resumable(before, asked.trials, "s")
    with pytest.raises(ConfigError, match="trial 1: algo.learning_rate=.* lies outside"):
        spaces.check_resumable(narrower, asked.trials, "s")


def test_a_float_with_a_schedule_samples_the_start_of_a_linear_decay() -> None:
    # merged over a plain float spec (as a sweep/env file does), it keeps the base's range
    base = {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}
    (param,) = space_cfg({"algo": {"learning_rate": {**base, "schedule": "linear"}}})
    assert spaces.distributions([param])["algo.learning_rate"].high == 1e-2
    cfg = compose_config(["algo=ppo", *spaces.overrides([param], {"algo.learning_rate": 7e-4})])
    assert OmegaConf.to_container(cfg.algo.learning_rate) == {
        "schedule": "linear",
        "start": 7e-4,
        "end": 0.0,
    }


@pytest.mark.parametrize(
    "space, words",
    [
        (
            {"algo": {"gamma": {"type": "uniform", "low": 0.9, "high": 1}}},
            ["unknown type 'uniform'"],
        ),
        (
            {"algo": {"gamma": {"type": "float", "low": 0.99, "high": 0.9}}},
            ["low (0.99) > high (0.9)"],
        ),
        (
            {"algo": {"learning_rat": {"type": "float", "low": 1e-4, "high": 1e-3}}},
            ["unknown hyperparameter algo.learning_rat", "did you mean 'learning_rate'"],
        ),
        ({"algo": {"gamma": {"type": "float", "lo": 0.9, "high": 1}}}, ["unknown key(s) lo"]),
        (
            {"algo": {"ent_coef": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}},
            ["log scale needs low > 0"],
        ),
        (
            {"algo": {"n_epochs": {"type": "int", "low": 1.5, "high": 3}}},
            ["low must be an integer"],
        ),
        ({"algo": {"gamma": {"type": "categorical", "choices": []}}}, ["choices is empty"]),
        (
            {"algo": {"gamma": {"type": "float", "low": 0.9, "high": 1, "schedule": "cosine"}}},
            ["schedule must be linear", "'cosine'"],
        ),
        (
            {"algo": {"n_epochs": {"type": "int", "low": 1, "high": 3, "schedule": "linear"}}},
            ["unknown key(s) schedule for type int"],
        ),
        ({"algo": {"gamma": 0.9}}, ["expected a mapping with a type"]),
        ({"eval": {"freqq": {"type": "int", "low": 1, "high": 3}}}, ["'eval.freqq' is not a key"]),
        ({"algo": {"seed": {"type": "int", "low": 1, "high": 3}}}, ["set by the harness"]),
        ({}, ["space is empty"]),
    ],
)
def test_bad_space_is_rejected(space: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        space_cfg(space)
    for w in words:
        assert w in str(e.value)


def test_samplers_and_pruners_by_name() -> None:
    assert isinstance(searches.make_sampler({"name": "tpe"}), optuna.samplers.TPESampler)
    # switching the name leaves the other class's arguments aside
    switched = searches.make_sampler({"name": "random", "seed": 1, "tpe": {"n_ei_candidates": 3}})
    assert isinstance(switched, optuna.samplers.RandomSampler)
    assert isinstance(searches.make_sampler({"name": "cmaes"}), optuna.samplers.CmaEsSampler)
    assert isinstance(searches.make_sampler({"name": "gp"}), optuna.samplers.GPSampler)
    assert searches.make_sampler({"name": "tpe"}, parallel=True)._constant_liar
    for name, cls in [
        ("median", "MedianPruner"),
        ("successive_halving", "SuccessiveHalvingPruner"),
        ("hyperband", "HyperbandPruner"),
        ("none", "NopPruner"),
    ]:
        assert type(searches.make_pruner({"name": name})).__name__ == cls
    with pytest.raises(ConfigError, match="not one of: tpe, random"):
        searches.make_sampler({"name": "bayes"})
    median = searches.make_pruner({"name": "median", "median": {"n_warmup_steps": 7}})
    assert median._n_warmup_steps == 7
    with pytest.raises(ConfigError, match="MedianPruner does not accept n_warmup;"):
        searches.make_pruner({"name": "median", "median": {"n_warmup": 3}})
    with pytest.raises(ConfigError, match="unknown key.*n_warmup_steps"):
        searches.make_pruner({"name": "median", "n_warmup_steps": 3})


def test_tpe_arguments_whose_defaults_optuna_5_changed_are_given_and_reach_the_sampler() -> None:
    spec = {"name": "tpe", "seed": 3, "tpe": {"multivariate": True, "constant_liar": True}}
    sampler = searches.make_sampler(spec)  # one worker: nothing else turns constant_liar on
    assert sampler._multivariate is True and sampler._constant_liar is True
    assert (
        searches.make_sampler({"name": "tpe", "tpe": {"constant_liar": False}})._constant_liar
        is False
    )
    session = versions.sampling(spec, {"name": "median", "median": {"n_warmup_steps": 7}})
    assert session == {
        "optuna_version": optuna.__version__,
        "sampler": {
            "class": "TPESampler",
            "args": {"seed": 3, "multivariate": True, "constant_liar": True},
        },
        "pruner": {"class": "MedianPruner", "args": {"n_warmup_steps": 7}},
    }
    assert versions.tags(session) == {
        "optuna.version": optuna.__version__,
        "optuna.sampler.class": "TPESampler",
        "optuna.sampler.args": '{"constant_liar": true, "multivariate": true, "seed": 3}',
        "optuna.pruner.class": "MedianPruner",
        "optuna.pruner.args": '{"n_warmup_steps": 7}',
    }


def other_major() -> str:
    """An Optuna version of another major than the installed one, as a study would record it."""
    return f"{versions.major(optuna.__version__) + 1}.0.0"


def test_a_study_started_under_another_optuna_major_is_refused_in_one_line(tmp_path: Path) -> None:
    storage = storages.open_storage(str(tmp_path / "optuna.journal"))
    study = optuna.create_study(study_name="s", storage=storage)
    session = versions.sampling({"name": "random", "seed": 0}, {"name": "none"})
    versions.record(study, session)
    versions.record(study, {**session, "optuna_version": other_major()})  # a resume
    assert study.user_attrs == session  # keeps the record of how the study began
    versions.check("s", study.user_attrs)  # the same major continues
    versions.check("s", {})  # a study from before the record: nothing to compare
    study.set_user_attr("optuna_version", other_major())
    with pytest.raises(ConfigError) as e:
        versions.check("s", optuna.load_study(study_name="s", storage=storage).user_attrs)
    assert str(e.value) == (
        f"study 's' was started under Optuna {other_major()} and this is Optuna "
        f"{optuna.__version__}: its sampler would not continue the same search across major "
        f"versions; resume it with Optuna {versions.major(other_major())} installed (pip install "
        f"'optuna=={other_major()}'), or start a new hydra.sweeper.study_name"
    )
    assert "\n" not in str(e.value)


def test_resampled_seeds_differ_between_workers_and_sessions() -> None:
    def draws(offset: int) -> list[float]:
        study = optuna.create_study(
            sampler=searches.make_sampler({"name": "random", "seed": 0}, offset)
        )
        return [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(3)]

    assert draws(0) == draws(0) and draws(0) != draws(1000)


def test_trial_report_prunes_and_stops_on_nan() -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=100.0)
    )
    trial = study.ask()
    cb = jobs.TrialReport(trial)
    cb.parent = type("Eval", (), {"last_mean_reward": 50.0})()
    cb.num_timesteps = 128
    assert cb._on_step() is False and cb.pruned_at == 128
    assert trial.user_attrs["pruned_at"] == 128
    nan_trial = study.ask()
    cb = jobs.TrialReport(nan_trial)
    cb.parent = type("Eval", (), {"last_mean_reward": float("nan")})()
    cb.num_timesteps = 256
    assert cb._on_step() is False and cb.non_finite_at == 256
    assert "nan" in nan_trial.user_attrs["error"]


def test_a_seed_reports_after_the_largest_budget_the_search_gives(tmp_path: Path) -> None:
    # n_timesteps searched in [200, 600]: seed 1 of a 200-step trial reports at 600 + t, where
    # seed 1 of a 600-step trial does; at 200 + t it would be compared with their seed 0.
    journal = str(tmp_path / "o.journal")
    study = optuna.create_study(
        study_name="span", storage=storages.open_storage(journal), direction="maximize"
    )
    study.ask()
    optuna_keys = {"study": "span", "storage": journal, "trial": 0, "seed_index": 1}
    cfg = OmegaConf.create({"seed": 1, "n_timesteps": 200, "optuna": optuna_keys})
    [report] = jobs.job_hooks(cfg)["after_eval"]
    assert report.offset == 200  # nothing searched it: its own budget
    cfg.optuna.seed_span = 600
    [report] = jobs.job_hooks(cfg)["after_eval"]
    assert report.offset == 600


def test_outcome_fails_a_nan_objective_and_an_exception(capsys: pytest.CaptureFixture) -> None:
    from hydra_plugins.rl_harness_sweeper.optuna_rl_sweeper import job_error

    nan = Launched({"last": float("nan")})
    assert outcome(nan, {})[0] == TrialState.FAIL and "nan" in outcome(nan, {})[2]
    raised = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("boom\ntrace"))
    assert job_error(raised) == "RuntimeError: boom"
    assert outcome(Launched(error=job_error(raised)), {}) == (
        TrialState.FAIL,
        None,
        "RuntimeError: boom",
    )
    assert capsys.readouterr().err == ""  # the trial's own line reports it, not Hydra's
    scores = {"last": 12.5, "best": 13.0, "auc": 10.0, "timesteps": 512}
    ok = Launched(scores)
    assert outcome(ok, {}) == (TrialState.COMPLETE, scores, None)
    assert outcome(ok, {"pruned_at": 128}) == (TrialState.PRUNED, scores, None)
    assert outcome(ok, {"error": "evaluation returned nan"})[2] == "evaluation returned nan"
    assert outcome(Launched(12.5), {})[0] == TrialState.FAIL  # a job that returns no scores


def test_heartbeat_beats_on_the_rdb_storage_we_opened(tmp_path: Path) -> None:
    storage = storages.open_storage(f"sqlite:///{tmp_path / 'o.db'}")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.get_heartbeat_interval() == liveness.INTERVAL_S  # the one pair of constants
    assert storage.grace_period == liveness.STALE_AFTER * liveness.INTERVAL_S
    study = optuna.create_study(study_name="hb", storage=storage)
    number = study.ask().number
    tid = storages.trial_id(storage, "hb", number)
    beats: list[int] = []
    storage.record_heartbeat = beats.append  # type: ignore[method-assign]
    with liveness.heartbeat(*storages.heartbeat_actions(storage, tid)):
        wait_for(lambda: beats, "the first beat")
    assert beats[0] == tid
    assert storages.heartbeat_actions(storage, None) == []  # a job of no trial
    journal = storages.open_storage(str(tmp_path / "o.journal"))
    assert storages.heartbeat_actions(journal, tid) == []  # one machine: no heartbeats


def test_plugin_is_discovered_by_hydra() -> None:
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    names = [p.__name__ for p in Plugins.instance().discover(Sweeper)]
    assert "OptunaRLSweeper" in names
    assert "optuna_rl.yaml" in ConfigStore.instance().list("hydra/sweeper")


def test_bad_space_fails_before_any_trial_in_one_line() -> None:
    proc = subprocess.run(
        [
            *sweep_cmd("bad"),
            "+hydra.sweeper.space.algo.learning_rat={type: float, low: 1, high: 2}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rl_harness: error: hydra.sweeper.space.algo.learning_rat")
    assert "did you mean 'learning_rate'" in last
    assert not Path("sweeps/bad").exists() and not list(Path().glob("sweeps/*/trial_*"))


def test_a_resume_under_another_optuna_major_exits_2_before_any_trial() -> None:
    url = str(Path("sweeps/old/optuna.journal").resolve())
    study = optuna.create_study(study_name="old", storage=storages.open_storage(url))
    study.set_user_attr("optuna_version", other_major())
    proc = subprocess.run(sweep_cmd("old"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"rl_harness: error: study 'old' was started under Optuna {other_major()} and this is "
        f"Optuna {optuna.__version__}"
    )
    assert load("old").trials == [] and not list(Path("sweeps/old").glob("trial_*"))


# ---------------------------------------------------------------- sweeps end to end


@pytest.mark.slow  # ~30 s: a sweep, its rerun and a training from the export; CI's full suite
def test_sweep_counts_resumes_nests_in_mlflow_and_exports_hparams_that_train() -> None:
    proc = run_sweep("count", "hydra.sweeper.n_trials=2")
    assert "2 complete, 0 pruned, 0 failed" in proc.stdout
    proc = run_sweep("count", "hydra.sweeper.n_trials=3")  # resumes: one more, not three
    assert "2 of 3 trials done" in proc.stdout and "3 complete" in proc.stdout
    study = load("count")
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all(len(t.intermediate_values) == 4 for t in study.trials)  # 512 / 128
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 3

    tpe = study.user_attrs["sampler"]  # what sweep=ppo gives TPE, as the sweeper passed it
    assert tpe["class"] == "TPESampler" and tpe["args"]["n_startup_trials"] == 5
    assert tpe["args"]["multivariate"] is True and tpe["args"]["constant_liar"] is True
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = MlflowClient(tracking.tracking_uri()).get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best/value"] == pytest.approx(study.best_value)
    assert parent.data.metrics["trials/complete"] == 3
    assert parent.data.tags["best.trial"] == str(study.best_trial.number)
    assert "best.algo.learning_rate" in parent.data.tags
    children = children_of(parent_id)
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == [0, 1, 2]
    for r in children:
        assert r.info.run_name == f"trial-{r.data.tags['optuna.trial']}"  # not MLflow's random
        assert r.data.tags["optuna.state"] == "COMPLETE"
        assert r.data.params["algo.gamma"] in ("0.9", "0.99")
        assert "eval/mean_reward" in r.data.metrics and "final/mean_reward" in r.data.metrics
        value = study.trials[int(r.data.tags["optuna.trial"])].value
        assert float(r.data.tags["optuna.value"]) == pytest.approx(value, rel=1e-5)
    assert len([r for r in mlflow_runs() if "mlflow.parentRunId" not in r.data.tags]) == 1

    best = Path("sweeps/count/best_hparams.yaml")
    text = best.read_text()
    assert text.startswith("# @package _global_") and "trial" in text
    cfg = compose_config(["algo=ppo", "env=cartpole"])
    with open_dict(cfg):
        cfg.merge_with(OmegaConf.load(best))
        cfg.eval.freq, cfg.checkpoint.freq, cfg.mlflow.enabled = 0, 0, False
    assert cfg.algo.learning_rate == pytest.approx(study.best_params["algo.learning_rate"])
    result = train.run(cfg)
    assert np.isfinite(result["mean_reward"]) and result["timesteps"] >= 512


def test_a_study_carried_as_its_journal_alone_continues_in_an_empty_tracking_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is the study (how a long study is carried to another machine or session):
    in a store that has never seen it, the sweep runs only the trials left, under a parent run
    of the new store."""
    run_sweep("carried", "hydra.sweeper.n_trials=1")
    first_parent = load("carried").user_attrs["mlflow_parent_run_id"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/elsewhere.db")
    proc = run_sweep("carried", "hydra.sweeper.n_trials=2")
    assert "1 of 2 trials done" in proc.stdout and "2 complete" in proc.stdout
    study = load("carried")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    assert parent_id != first_parent
    assert MlflowClient(tracking.tracking_uri()).get_run(parent_id).info.status == "FINISHED"
    assert [r.data.tags["optuna.trial"] for r in children_of(parent_id)] == ["1"]


def test_forced_prune_and_failed_trials_are_recorded_and_the_sweep_goes_on() -> None:
    # ThresholdPruner(lower=1e6) prunes at the first report; batch_size=1 makes PPO raise.
    proc = run_sweep(
        "prune",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.pruner.name=threshold",
        "+hydra.sweeper.pruner.threshold={lower: 1.0e6}",
        "+hydra.sweeper.space.algo.batch_size={type: categorical, choices: [1, 64]}",
        "hydra.sweeper.sampler.name=random",
    )
    study = load("prune")
    states = {t.number: t.state for t in study.trials}
    assert len(states) == 4
    by_batch = {t.params["algo.batch_size"]: t.state for t in study.trials}
    for t in study.trials:
        if t.params["algo.batch_size"] == 1:
            assert t.state == TrialState.FAIL and "batch_size" in t.user_attrs["error"]
        else:
            assert t.state == TrialState.PRUNED
            assert t.user_attrs["pruned_at"] == 128 and list(t.intermediate_values) == [128]
            assert t.user_attrs["timesteps"] < 512
    assert set(by_batch) == {1, 64}  # the seeded random sampler tried both
    trial_runs = {
        r.data.tags["optuna.trial"]: r for r in mlflow_runs() if "optuna.trial" in r.data.tags
    }
    assert len(trial_runs) == 4  # a trial whose model could not be built has its run too
    assert study.user_attrs["optuna_version"] == optuna.__version__
    assert study.user_attrs["sampler"] == {"class": "RandomSampler", "args": {"seed": 0}}
    assert study.user_attrs["pruner"] == {"class": "ThresholdPruner", "args": {"lower": 1.0e6}}
    parent = MlflowClient(tracking.tracking_uri()).get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.data.tags["optuna.version"] == optuna.__version__
    assert parent.data.tags["optuna.sampler.class"] == "RandomSampler"
    assert parent.data.tags["optuna.pruner.args"] == '{"lower": 1000000.0}'
    for t in study.trials:
        run = trial_runs[str(t.number)]
        tag = run.data.tags
        assert tag.get("mlflow.parentRunId") == study.user_attrs["mlflow_parent_run_id"]
        if t.state == TrialState.PRUNED:
            assert tag["optuna.state"] == "PRUNED" and run.info.status == "FINISHED"
            assert f"trial {t.number}: PRUNED at step 128" in proc.stdout
        else:
            assert tag["optuna.state"] == "FAIL" and "batch_size" in tag["optuna.error"]
            assert run.info.status == "FAILED" and run.data.params["algo.batch_size"] == "1"
            assert f"trial {t.number}: FAIL" in proc.stdout


def trial_mid_training(
    study: str, proc: subprocess.Popen, log: Path | None = None
) -> optuna.trial.FrozenTrial | None:
    """A RUNNING trial that has reported an intermediate value; fails if the sweep ended."""
    if proc.poll() is not None:
        out = log.read_text() if log else proc.communicate()[1]
        pytest.fail(f"the sweep ended (exit {proc.returncode}) before a trial ran: {out[-3000:]}")
    if not (Path("sweeps") / study / "optuna.journal").exists():
        return None
    running = [
        t for t in load(study).trials if t.state == TrialState.RUNNING and t.intermediate_values
    ]
    return running[0] if running else None


@pytest.mark.slow  # a whole process killed and started again (~20 s): CI's full suite
def test_resume_after_sigkill_mid_trial() -> None:
    study_name = "killed"
    cmd = sweep_cmd(study_name, "hydra.sweeper.n_trials=3", "n_timesteps=2048")
    with open("first.log", "w") as log:
        first = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    victim = wait_for(
        lambda: trial_mid_training(study_name, first, Path("first.log")),
        "a trial to report mid-training",
        180,
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    run_sweep(study_name, "hydra.sweeper.n_trials=3", "n_timesteps=2048")
    study = load(study_name)
    dead = study.trials[victim.number]
    assert dead.state == TrialState.FAIL and dead.user_attrs["interrupted"]
    assert "process died" in dead.user_attrs["error"]
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].params == victim.params
    assert retry[0].state == TrialState.COMPLETE
    assert trial_book.counted(study.trials) == 3
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    runs = [r for r in mlflow_runs() if r.data.tags.get("optuna.trial") == str(victim.number)]
    assert len(runs) == 1 and runs[0].info.status == "KILLED"
    assert runs[0].data.tags["optuna.state"] == "FAIL"


@pytest.mark.slow  # ~25 s; the fast suite stops a training run with Ctrl-C in test_resume.py
def test_ctrl_c_stops_cleanly_and_the_rerun_finishes_the_study() -> None:
    study_name = "ctrlc"
    cmd = sweep_cmd(study_name, "hydra.sweeper.n_trials=2", "n_timesteps=2048")
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = wait_for(
        lambda: trial_mid_training(study_name, first), "a trial to report mid-training", 180
    )
    first.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err[-3000:]
    assert "the study is intact" in err
    study = load(study_name)
    stopped = study.trials[victim.number]
    assert stopped.state == TrialState.FAIL and "Ctrl-C" in stopped.user_attrs["error"]
    assert not [r for r in mlflow_runs() if r.info.status == "RUNNING"]  # parent and trial
    (trial_run,) = [
        r for r in mlflow_runs() if r.data.tags.get("optuna.trial") == str(victim.number)
    ]
    assert trial_run.info.status == "KILLED" and trial_run.data.tags["optuna.error"] == "Ctrl-C"

    run_sweep(study_name, "hydra.sweeper.n_trials=2", "n_timesteps=2048")
    study = load(study_name)
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 2


def check_parallel(study: optuna.Study, n: int) -> None:
    assert trial_book.counted(study.trials) == n == len(study.trials)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    owners = {t.user_attrs["owner"].split(":")[1] for t in study.trials}
    assert len(owners) == 2  # both workers ran trials
    children = children_of(study.user_attrs["mlflow_parent_run_id"])
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == list(range(n))
    assert all(r.info.status == "FINISHED" for r in children)


@pytest.mark.slow  # ~20 s of processes; CI's full suite runs it
def test_two_workers_on_the_journal_record_every_trial() -> None:
    run_sweep("par", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_workers=2")
    study = load("par")
    check_parallel(study, 4)
    log = Path("sweeps/par/worker-1.log").read_text()
    assert "database is locked" not in log and "Traceback" not in log


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("RL_HARNESS_TEST_PG_URL")
    if not url:
        skip_without_postgres(
            "set RL_HARNESS_TEST_PG_URL (export RL_HARNESS_TEST_PG_URL=$(bash .ci/postgres.sh))"
        )
    try:
        optuna.get_all_study_names(storages.open_storage(url))
    except Exception as e:  # noqa: BLE001 - any connection problem is the reason
        skip_without_postgres(
            f"the server at {storages.redact(url)} is unreachable: {e}".split("\n")[0]
        )
    return url


def test_two_workers_on_postgresql_record_every_trial(pg_url: str) -> None:
    name = f"pg-{uuid.uuid4().hex[:8]}"
    proc = run_sweep(
        name,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_workers=2",
        f"hydra.sweeper.storage='{pg_url}'",
    )
    assert ":***@" in proc.stdout or "@" not in pg_url  # the password is not printed
    check_parallel(load(name, pg_url), 4)


def test_the_study_lock_holds_across_machines_and_dies_with_its_holder(pg_url: str) -> None:
    import sqlalchemy

    study = f"lock-{uuid.uuid4().hex[:8]}"
    key = {"k": storages.lock_key(study)}
    engine = sqlalchemy.create_engine(storages.storage_url(pg_url), poolclass=sqlalchemy.NullPool)

    def free() -> bool:  # asked on a connection of its own, as another machine would
        with engine.connect() as conn:
            got = conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), key).scalar()
            if got:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), key)
            return bool(got)

    assert free()
    with storages.study_lock(pg_url, study):
        assert not free()
    assert free()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, pg_url, study], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert not free()
    holder.kill()  # the worker's machine is lost: PostgreSQL drops its connection and lock
    holder.wait()
    wait_for(free, "the lock of a killed holder to be released", 60)


HOLD_LOCK = """
import sys, threading
from rl_harness.tuning import storage as storages
with storages.study_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    threading.Event().wait()
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml")))
def test_every_shipped_search_space_is_valid(name: str) -> None:
    if name not in algos.REGISTRY:
        pytest.skip(f"algo={name} is not in this build's registry")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config", overrides=[f"sweep={name}", f"algo={name}"], return_hydra_config=True
        )
    assert cfg.hydra.sweeper._target_.endswith("OptunaRLSweeper")
    params = spaces.parse_space(cfg.hydra.sweeper.space, cfg)
    assert params
    sampler = searches.make_sampler(cfg.hydra.sweeper.sampler)
    # Optuna 5 changed these two defaults: each shipped sweep gives them, and they arrive
    assert cfg.hydra.sweeper.sampler.tpe.multivariate is True is sampler._multivariate
    assert cfg.hydra.sweeper.sampler.tpe.constant_liar is True is sampler._constant_liar
    for pruner in ("median", "successive_halving", "hyperband"):
        searches.make_pruner({**cfg.hydra.sweeper.pruner, "name": pruner})


@pytest.mark.parametrize(
    "path", sorted((CONF_DIR / "sweep/env").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_per_env_space_applies_on_top_of_its_algorithm_space(path: Path) -> None:
    name, env = path.stem.split("_", 1)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        base = compose(
            "config",
            overrides=[f"sweep={name}", f"algo={name}", "env=cartpole"],
            return_hydra_config=True,
        )
        cfg = compose(
            "config",
            overrides=[f"sweep={name}", f"algo={name}", f"env={env}"],
            return_hydra_config=True,
        )
    own = OmegaConf.load(path).hydra.sweeper
    space = cfg.hydra.sweeper.space
    own_paths = [p.path for p in spaces.parse_space(own.space, cfg)]
    for p in own_paths:  # the env file's entries win...
        assert OmegaConf.select(space, p) == OmegaConf.select(own.space, p)
    for key in base.hydra.sweeper.space.algo:  # ...and the algorithm's others stay
        assert key in space.algo
    params = {p.path: p for p in spaces.parse_space(space, cfg)}
    assert set(params) >= set(own_paths)
    for key, value in own.get("pruner", {}).items():
        for arg, v in value.items():
            assert cfg.hydra.sweeper.pruner[key][arg] == v


@pytest.mark.slow  # ~20 s; the fast suite runs the CLI sweep in the tests above
def test_cli_sweep_with_default_study_name_runs_qlearning(tmp_path: Path) -> None:
    """The documented command as typed: no study_name given, tabular Q-learning as the algo."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_harness",
            "-m",
            "sweep=qlearning",
            "algo=qlearning",
            "env=frozenlake",
            "n_timesteps=2000",
            "eval.freq=1000",
            "eval.episodes=2",
            "hydra.sweeper.n_trials=2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "2 complete" in out.stdout
    assert (tmp_path / "sweeps/qlearning-frozenlake/best_hparams.yaml").is_file()
    # the jobs' folders too: the default name reaches the jobs' configs, not "sweeps/None"
    assert sorted(p.name for p in (tmp_path / "sweeps").iterdir()) == ["qlearning-frozenlake"]
    assert list((tmp_path / "sweeps/qlearning-frozenlake").glob("trial_*/model.zip"))
