"""The whole path on tiny budgets: every algorithm runs, MLflow holds the run, results repeat."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import stable_baselines3
import torch
from mlflow import MlflowClient
from scipy import stats
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule

from rl_harness.build import registry as algos
from rl_harness.common import provenance
from rl_harness.config import names as naming
from rl_harness.deploy import serving
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking
from rl_harness.training import train
from tests.conftest import compose_config

TINY = ["n_timesteps=512", "eval.freq=256", "eval.episodes=2", "checkpoint.freq=256"]
# The cheapest env each algorithm can train on, and a few kwargs that keep it tiny.
SMOKE = {
    "ppo": ("cartpole", ["algo.n_steps=64", "algo.batch_size=64"]),
    "a2c": ("cartpole", []),
    "dqn": ("cartpole", ["algo.learning_starts=64"]),
    "qrdqn": ("cartpole", ["algo.learning_starts=64"]),
    "trpo": ("cartpole", ["algo.n_steps=128", "algo.batch_size=64"]),
    "ars": ("cartpole", ["algo.n_delta=2"]),
    "recurrent_ppo": ("cartpole", ["algo.n_steps=64", "algo.batch_size=64"]),
    "sac": ("pendulum", ["algo.learning_starts=64", "algo.batch_size=32"]),
    "td3": ("pendulum", ["algo.learning_starts=64", "algo.batch_size=32"]),
    "ddpg": ("pendulum", ["algo.learning_starts=64", "algo.batch_size=32"]),
    "tqc": ("pendulum", ["algo.learning_starts=64", "algo.batch_size=32"]),
    "maskable_ppo": ("custom", ["algo.n_steps=64", "algo.batch_size=64"]),
    "qlearning": ("frozenlake", []),
    "crossq": (
        "pendulum",
        [
            "algo.learning_starts=64",
            "algo.batch_size=32",
            "++algo.policy_kwargs={net_arch: [32, 32]}",
        ],
    ),
}


def client() -> MlflowClient:
    return MlflowClient(tracking.tracking_uri())


def only_run(experiment: str):
    exp = client().get_experiment_by_name(experiment)
    runs = client().search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]


def test_every_algorithm_has_a_smoke_test() -> None:
    assert set(SMOKE) == set(algos.REGISTRY)


@pytest.mark.parametrize("algo", sorted(SMOKE))
def test_smoke_each_algorithm(algo: str, tmp_path: Path) -> None:
    env, extra = SMOKE[algo]
    cfg = compose_config([f"algo={algo}", f"env={env}", "n_envs=1", *TINY, *extra])
    result = train.run(cfg)
    assert np.isfinite(result["mean_reward"]) and result["timesteps"] >= 512
    run = only_run(cfg.env.id.split(":")[-1])
    assert run.info.status == "FINISHED"
    assert run.data.tags["algo"] == algo
    cls = algos.get_class(algo)
    reloaded = cls.load(result["model_path"], device="cpu")
    assert reloaded.num_timesteps == result["timesteps"]
    assert (tmp_path / "checkpoints").is_dir()


def test_custom_env_is_scored_against_its_optimum() -> None:
    cfg = compose_config(
        [
            "algo=ppo",
            "env=custom",
            "n_envs=4",
            "algo.n_steps=128",
            "n_timesteps=2048",
            "eval.freq=1024",
            "eval.episodes=2",
            "checkpoint.freq=0",
        ]
    )
    result = train.run(cfg)
    run = client().get_run(result["run_id"])
    metrics = run.data.metrics
    assert metrics["optimum"] == pytest.approx(2915.55, abs=0.01) == result["optimum"]
    history = client().get_metric_history(run.info.run_id, "eval/optimality")
    means = client().get_metric_history(run.info.run_id, "eval/mean_reward")
    assert [m.step for m in history] == [m.step for m in means] == [1024, 2048]
    for ratio, mean in zip(history, means, strict=True):
        assert ratio.value == pytest.approx(mean.value / result["optimum"])
    assert metrics["final/optimality"] == pytest.approx(result["mean_reward"] / result["optimum"])
    # the closing evaluation played on until its mean is known to ±0.3% of the optimum (95%)
    returns = result["returns"]
    half_width = stats.t.ppf(0.975, len(returns) - 1) * np.std(returns, ddof=1)
    half_width /= np.sqrt(len(returns))
    assert len(returns) > 30 and metrics["final/episodes"] == len(returns)
    assert half_width <= 0.003 * result["optimum"] or len(returns) == 1000
    assert metrics["final/ci95"] == pytest.approx(half_width)
    assert metrics["final/optimality_ci95"] == pytest.approx(half_width / result["optimum"])
    line = train.summary_line(result)
    assert f"± {half_width:.2f} (95% CI; std " in line and f"over {len(returns)} episodes" in line
    assert f"% ± {100 * half_width / result['optimum']:.1f}% of optimum" in line


def test_final_evaluation_without_optimum_plays_its_episodes_on_seeds_training_never_uses() -> None:
    cfg = compose_config(["algo=a2c", "n_timesteps=64", "eval.freq=0", "checkpoint.freq=0"])
    result = train.run(cfg)
    assert len(result["returns"]) == cfg.eval.final.episodes == 30  # no optimum: no more
    with pytest.raises(ConfigError, match=r"seed must be an integer in \[0, 9996\]"):
        train.validate(compose_config(["seed=9997", "n_envs=4"]))
    train.validate(compose_config(["seed=9996", "n_envs=4"]))  # its last env: seed 9999


# Recorded by this process (inline), or by the helper process a CLI run uses (recording.py):
# the run must come out the same either way.
RECORDING = pytest.mark.parametrize("background", ["false", "true"], ids=["inline", "helper"])


@RECORDING
def test_mlflow_holds_params_metrics_artifacts_tags(
    background: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")  # default 10 s
    cfg = compose_config(
        [
            "algo=ppo",
            "env=pendulum",
            "env.normalize=true",
            "n_envs=2",
            "algo.n_steps=128",
            "n_timesteps=1024",
            "eval.freq=512",
            "eval.episodes=2",
            "checkpoint.freq=512",
            "++mlflow.tags.team=rl",
            f"mlflow.background={background}",
        ]
    )
    result = train.run(cfg)
    run = client().get_run(result["run_id"])
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["algo.name"] == "ppo" and params["env.id"] == "Pendulum-v1"
    assert params["algo.n_steps"] == "128" and params["seed"] == "0"
    assert params["env.normalize"] == "True"
    for key in (
        "rollout/ep_rew_mean",
        "train/loss",
        "time/fps",
        "eval/mean_reward",
        "eval/std_reward",
        "eval/mean_ep_length",
        "final/mean_reward",
    ):
        assert key in metrics, key
    steps = [m.step for m in client().get_metric_history(run.info.run_id, "eval/mean_reward")]
    assert steps == [512, 1024]
    std_steps = [m.step for m in client().get_metric_history(run.info.run_id, "eval/std_reward")]
    assert std_steps == steps
    assert metrics["final/mean_reward"] == pytest.approx(result["mean_reward"])
    names = {a.path for a in client().list_artifacts(run.info.run_id)}
    assert {"resolved_config.yaml", "learning_curve.png", "model", "progress.csv"} <= names
    model_files = {a.path for a in client().list_artifacts(run.info.run_id, "model")}
    assert {"model/model.zip", "model/best_model.zip", "model/vecnormalize.pkl"} <= model_files
    assert tags["team"] == "rl" and tags["env"] == "Pendulum-v1"
    assert len(tags["mlflow.source.git.commit"]) == 40
    # the command line that started this process (pytest's, or an xdist worker's `python -c`)
    assert tags[tracking.PID_TAG] == str(os.getpid()) and tags["command"] == " ".join(sys.argv)
    assert tags[serving.MODEL_URI_TAG].startswith("models:/")
    assert run.info.status == "FINISHED"
    # named for what it is; grouped with its other seeds; its model beside it; system metrics
    assert run.info.run_name == "ppo-Pendulum-v1-s0"
    assert tags["seed_group"] == naming.seed_group(cfg) and tags["seed_group"].startswith("ppo-")
    (model,) = client().search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    assert model.name == "policy" and tags[serving.MODEL_URI_TAG] == model.model_uri
    assert "system/cpu_utilization_percentage" in metrics
    note = tags["mlflow.note.content"]  # the run page's description
    assert note.startswith("**ppo** on **Pendulum-v1**, seed 0, 1,024 steps") and "95% CI" in note
    assert f"{result['mean_reward']:.2f} ± " in note and "`n_steps=128`" in note
    experiment = client().get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "system/system_memory_usage_megabytes" in metrics


def test_run_names_are_unique_and_a_given_name_wins() -> None:
    base = ["algo=qlearning", "env=frozenlake", "n_timesteps=64", "eval.freq=0"]
    base += ["checkpoint.freq=0", "mlflow.system_metrics=false"]
    ids = [train.run(compose_config([*base, "seed=4"]))["run_id"] for _ in range(3)]
    ids.append(train.run(compose_config([*base, "seed=4", "mlflow.run_name=mine"]))["run_id"])
    ids.append(train.run(compose_config([*base, "seed=4", "mlflow.run_name=mine"]))["run_id"])
    runs = [client().get_run(i) for i in ids]
    assert [r.info.run_name for r in runs] == [
        "qlearning-FrozenLake-v1-s4",
        "qlearning-FrozenLake-v1-s4-2",
        "qlearning-FrozenLake-v1-s4-3",
        "mine",
        "mine",
    ]
    assert len({r.data.tags["seed_group"] for r in runs}) == 1  # one configuration
    assert not any(k.startswith("system/") for r in runs for k in r.data.metrics)


def test_tracking_off_records_nothing(tmp_path: Path) -> None:
    cfg = compose_config(
        ["n_timesteps=256", "eval.freq=0", "checkpoint.freq=0", "mlflow.enabled=false"]
    )
    result = train.run(cfg)
    assert result["run_id"] is None
    assert client().search_experiments(filter_string="name = 'CartPole-v1'") == []
    assert (tmp_path / "environment/packages.txt").is_file()  # what it ran on, in its files


@RECORDING
def test_a_run_records_what_it_ran_on(background: str, tmp_path: Path) -> None:
    tiny = ["n_timesteps=64", "algo.n_steps=64", "algo.batch_size=64", "eval.freq=0"]
    tiny += ["checkpoint.freq=0", "eval.final.episodes=2", "mlflow.system_metrics=false"]
    result = train.run(compose_config([*tiny, f"mlflow.background={background}"]))
    tags = client().get_run(result["run_id"]).data.tags
    recorded = provenance.from_tags(tags)
    assert recorded["version.torch"] == provenance.installed()["torch"]
    assert recorded["version.stable-baselines3"] == stable_baselines3.__version__
    assert recorded["torch.threads"] == "1" and recorded["cpu"] and recorded["version.python"]
    assert provenance.differences(recorded, provenance.facts(torch.get_num_threads())) == []
    files = {a.path for a in client().list_artifacts(result["run_id"], "environment")}
    assert ("environment/git.diff" in files) == (tags[provenance.DIRTY_TAG] == "true")
    packages = client().download_artifacts(
        result["run_id"], "environment/packages.txt", str(tmp_path / "dl")
    )
    assert provenance.parse_packages(Path(packages).read_text()) == provenance.installed()


@RECORDING
@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")]
)
def test_interrupted_runs_end_failed_or_killed(
    error: BaseException, status: str, background: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(stable_baselines3.PPO, "learn", explode)
    cfg = compose_config(["n_timesteps=256", f"mlflow.background={background}"])
    with pytest.raises(type(error)):
        train.run(cfg)
    run = only_run("CartPole-v1")
    assert run.info.status == status
    if status == "FAILED":
        assert run.data.tags["error"] == "RuntimeError: boom"
        assert "error.txt" in {a.path for a in client().list_artifacts(run.info.run_id)}


def test_same_config_and_seed_give_identical_results() -> None:
    cfg = compose_config(
        [
            "algo=dqn",
            "n_timesteps=2000",
            "algo.learning_starts=200",
            "eval.freq=1000",
            "eval.episodes=3",
        ]
    )
    first = train.run(cfg)
    second = train.run(cfg)
    assert first["returns"] == second["returns"]
    m1 = algos.get_class("dqn").load(first["model_path"])
    m2 = algos.get_class("dqn").load(second["model_path"])
    for p1, p2 in zip(m1.policy.parameters(), m2.policy.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_harness_adds_nothing_to_learning() -> None:
    """Same hyperparameters and seed as a plain SB3 script → the same weights and returns."""
    cfg = compose_config(
        [
            "algo=ppo",
            "env=cartpole",
            "n_timesteps=4096",
            "eval.freq=1024",
            "eval.episodes=5",
            "eval.final.episodes=5",
            "eval.final.n_envs=1",
            "checkpoint.freq=2048",
        ]
    )
    result = train.run(cfg)
    harness = PPO.load(result["model_path"], device="cpu")

    torch.set_num_threads(1)
    env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    plain = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        clip_range=LinearSchedule(0.2, 0.0, 1.0),
        seed=0,
        device="cpu",
    )
    plain.learn(4096)
    for p1, p2 in zip(harness.policy.parameters(), plain.policy.parameters(), strict=True):
        assert torch.equal(p1, p2)
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=10_000)
    eval_env.seed(10_000)
    returns, _ = evaluate_policy(
        plain, eval_env, n_eval_episodes=5, deterministic=True, return_episode_rewards=True
    )
    assert [float(r) for r in returns] == result["returns"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "env", "obs_shape", "overrides"),
    [
        # RL Zoo's atari block (conf/hparams/ppo_pong.yaml): 84x84 grey frames, the last 4
        ("ppo", "pong", (84, 84, 4), ["algo.n_steps=64", "algo.batch_size=64"]),
        ("sac", "hopper", (11,), ["algo.learning_starts=64", "algo.batch_size=32"]),
    ],
)
def test_atari_and_mujoco_train_save_and_evaluate_with_rl_zoos_values(
    algo: str, env: str, obs_shape: tuple[int, ...], overrides: list[str]
) -> None:
    from rl_harness import api

    result = api.train(
        algo,
        env,
        ["n_envs=2", "n_timesteps=256", "eval.freq=0", "checkpoint.freq=0",
         "eval.final.episodes=2", "eval.final.n_envs=2", *overrides],
    )  # fmt: skip
    assert result.episodes >= 2 and np.isfinite(result.mean_reward)
    reloaded = algos.get_class(algo).load(result.model_path, device="cpu")
    assert reloaded.observation_space.shape in (obs_shape, obs_shape[::-1])  # CnnPolicy: CHW
    evaluation = api.evaluate(result.run_id, ["episodes=2", "n_envs=2"])
    assert len(evaluation["returns"]) == 2
    if env == "pong":  # whole games, as RL Zoo scores them (a life lost ends only the agent's)
        assert all(-21 <= r <= 21 for r in evaluation["returns"])
    run = client().get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.params["algo.policy"] == (
        "CnnPolicy" if env == "pong" else "MlpPolicy"
    )
