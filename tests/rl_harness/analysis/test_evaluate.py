"""Evaluation of a trained agent: from a run or a path, with its statistics, linked, with video."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from omegaconf import OmegaConf
from stable_baselines3 import PPO

from rl_harness.analysis import evaluate
from rl_harness.build import make as build
from rl_harness.build.optimum import optimum as task_optimum
from rl_harness.common import stats
from rl_harness.tracking import runs as tracking
from rl_harness.training import train
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[3]


def eval_config(*overrides: str):
    from hydra import compose, initialize_config_dir

    from rl_harness.config.preflight import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def test_evaluation_run_is_linked_and_repeats_the_training_evaluation(trained, capsys) -> None:
    # The training run's final evaluation: eval.episodes=2 on one env seeded seed + 10000.
    # Same episodes, same statistics → the same returns; without the VecNormalize statistics
    # (or with the wrong seed) they would differ.
    result = evaluate.run(eval_config(f"run_id={trained.run_id}", "episodes=2", "n_envs=1"))
    assert result["returns"] == pytest.approx(trained.result["returns"])

    capsys.readouterr()
    result = evaluate.run(eval_config(f"run_id={trained.run_id}", "episodes=6", "n_envs=3"))
    # printed as training prints its own: mean ± 95% CI (std ...) over N episodes
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith(f": {stats.evaluation(result['returns'])}"), line
    assert " (95% CI; std " in line
    run = tracking.get_run(result["run_id"])
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["mlflow.parentRunId"] == trained.run_id == tags["source_run_id"]
    source_name = tracking.get_run(trained.run_id).info.run_name
    # the first evaluation above took the plain name
    assert source_name == "ppo-CartPole-v1-s3" and run.info.run_name == f"eval-{source_name}-2"
    assert tags["run_type"] == "evaluation" and tags["algo"] == "ppo"
    training = tracking.get_run(trained.run_id)
    assert run.info.experiment_id == training.info.experiment_id
    returns = np.array(result["returns"])
    assert len(returns) == 6
    assert metrics["eval/mean_reward"] == pytest.approx(returns.mean())
    assert metrics["eval/std_reward"] == pytest.approx(returns.std(ddof=1))
    assert metrics["eval/ci95"] == pytest.approx(stats.ci95(returns))
    assert metrics["eval/episodes"] == 6 and "eval/optimality" not in metrics
    history = tracking.metric_history(run.info.run_id, "eval/episode_return")
    assert [s for s, _ in history] == list(range(6))
    assert [v for _, v in history] == pytest.approx(returns.tolist())
    assert tracking.download(run.info.run_id, "episodes.csv", Path("dl")) is not None


def test_best_checkpoint_and_tracking_off(trained) -> None:
    result = evaluate.run(
        eval_config(
            f"run_id={trained.run_id}", "checkpoint=best", "episodes=2", "mlflow.enabled=false"
        )
    )
    assert result["run_id"] is None and len(result["returns"]) == 2


def test_custom_env_from_a_path_scores_against_the_optimum_and_records_video() -> None:
    cfg = compose_config(["env=custom", "seed=1"])
    env = build.make_env(cfg, n_envs=1)
    PPO("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [8]}).save("model.zip")
    env.close()
    OmegaConf.save(cfg, "resolved_config.yaml", resolve=True)

    result = evaluate.run(
        eval_config(
            "model_path=model.zip",
            "episodes=4",
            "precision=0",  # exactly 4 (the batches to a CI target: test_train)
            "n_envs=4",
            "video=true",
            "video_episodes=1",
        )
    )
    optimum = task_optimum(cfg)
    assert result["optimum"] == pytest.approx(optimum) and optimum > 0
    run = tracking.get_run(result["run_id"])
    assert run.data.metrics["eval/optimality"] == pytest.approx(
        np.mean(result["returns"]) / optimum
    )
    assert run.data.tags["source_run_id"] == "" and "mlflow.parentRunId" not in run.data.tags
    video = tracking.download(run.info.run_id, "video/episode_0.mp4", Path("dl"))
    assert video is not None
    reader = imageio.get_reader(video)
    frames = [f for _, f in zip(range(400), reader, strict=False)]
    reader.close()
    horizon = cfg.env.kwargs.horizon
    assert len(frames) == horizon  # the reset frame + every day but the last (env reset then)
    assert frames[0].ndim == 3 and frames[0].shape[2] == 3
    assert np.std(frames[-1]) > 0  # a drawn chart, not a blank frame


def test_qlearning_agent_from_its_run_repeats_its_evaluation_and_scores_the_optimum() -> None:
    # The tabular agent goes through the same load and evaluation path as SB3's.
    cfg = compose_config(
        [
            "algo=qlearning",
            "env=custom",
            "n_timesteps=200000",
            "eval.freq=0",
            "checkpoint.freq=0",
            "eval.episodes=3",
            "eval.final.episodes=3",
            "eval.final.precision=0",
            "eval.final.n_envs=1",
            "progress_bar=false",
        ]
    )
    trained = train.run(cfg)
    result = evaluate.run(eval_config(f"run_id={trained['run_id']}", "episodes=3", "n_envs=1"))
    assert result["returns"] == pytest.approx(trained["returns"])
    run = tracking.get_run(result["run_id"])
    assert run.data.tags["algo"] == "qlearning"
    assert run.data.tags["mlflow.parentRunId"] == trained["run_id"]
    assert run.data.metrics["eval/optimality"] == pytest.approx(
        np.mean(trained["returns"]) / trained["optimum"]
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], "give exactly one of run_id"),
        (["run_id=abc", "model_path=x.zip"], "give exactly one of run_id"),
        (["run_id=abc"], "no MLflow run 'abc'"),
        (["model_path=missing.zip"], "no config for missing.zip"),
        (["run_id=abc", "episodes=0"], "episodes must be a positive integer"),
        (["run_id=abc", "max_episodes=10"], r"max_episodes \(10\) must be ≥ episodes \(100\)"),
        (["run_id=abc", "precision=-1"], "precision must be a number ≥ 0 or null, got -1"),
    ],
)
def test_mistakes_are_one_clear_error(overrides: list[str], message: str) -> None:
    from rl_harness.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        evaluate.run(eval_config(*overrides))


def test_missing_statistics_are_refused(trained, tmp_path: Path) -> None:
    from rl_harness.errors import ConfigError

    source = Path(trained.result["model_path"])
    for name in ("model.zip", "resolved_config.yaml"):  # not vecnormalize.pkl
        shutil.copy(source.with_name(name), tmp_path / name)
    with pytest.raises(ConfigError, match="trained with env.normalize but vecnormalize.pkl"):
        evaluate.run(eval_config(f"model_path={tmp_path / 'model.zip'}"))


def test_cli_reports_errors_in_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rl_harness.evaluate", "run_id=nope"],
        capture_output=True,
        text=True,
        cwd=Path.cwd(),
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("rl_harness.evaluate: error: no MLflow run 'nope'")
    )


@pytest.fixture
def no_render_agent() -> Path:
    """A PPO model (and its resolved config) trained briefly on an env without render modes."""
    from stable_baselines3.common.env_checker import check_env

    from tests.rl_harness.no_render import ENV_ID, NoRender

    check_env(NoRender())
    cfg = compose_config(
        ["algo=ppo", f"env.id={ENV_ID}", "n_timesteps=64", "algo.n_steps=32", "algo.batch_size=32"]
        + ["eval.freq=0", "checkpoint.freq=0", "n_envs=2", "mlflow.enabled=false"]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Path(train.run(cfg)["model_path"])
    # SB3 would ask every env it makes by id for rgb_array frames; this one declares none
    assert not [w for w in caught if "render_mode" in str(w.message)]
    return model


def test_video_of_an_env_without_render_modes_is_refused_before_anything_runs(
    no_render_agent: Path, recwarn: pytest.WarningsRecorder
) -> None:
    from rl_harness.errors import ConfigError
    from tests.rl_harness.no_render import ENV_ID

    assert build.render_modes(ENV_ID) == [] and "rgb_array" in build.render_modes("CartPole-v1")
    model = f"model_path={no_render_agent}"
    with pytest.raises(
        ConfigError, match=f"video=true needs .*; {ENV_ID} declares render modes: none"
    ):  # noqa: E501
        evaluate.run(eval_config(model, "video=true", "episodes=2"))
    assert tracking.search_runs(finished=False) == []  # no evaluation run was opened
    assert not any("render" in str(w.message) for w in recwarn.list)
    # without video it evaluates, and Gymnasium never hears of a render mode
    assert len(evaluate.run(eval_config(model, "episodes=2", "n_envs=1"))["returns"]) == 2
    assert not any("render" in str(w.message) for w in recwarn.list)
    # the command line: one line, exit 2
    proc = subprocess.run(
        [sys.executable, "-m", "rl_harness.evaluate", model, "video=true"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("rl_harness.evaluate: error: video=true needs an env that renders")


def test_an_evaluation_that_fails_after_it_started_is_recorded_failed(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("the env crashed mid-episode")

    monkeypatch.setattr(evaluate, "episodes", broken)
    with pytest.raises(RuntimeError, match="mid-episode"):
        evaluate.run(eval_config(f"run_id={trained.run_id}", "episodes=2"))
    (run,) = [r for r in tracking.search_runs(finished=False) if r.info.run_id != trained.run_id]
    assert run.info.status == "FAILED" and run.data.tags["run_type"] == "evaluation"
    assert "the env crashed mid-episode" in run.data.tags["error"]
    assert run.data.params["episodes"] == "2"  # what it was asked to do, recorded at its start


def test_the_plan_is_the_training_runs_closing_evaluation_unless_given() -> None:
    trained = compose_config(["eval.final.precision=0.01", "eval.final.max_episodes=500"])
    inherited = evaluate.plan(eval_config("run_id=abc", "episodes=20"), trained)
    assert (inherited.episodes, inherited.max_episodes, inherited.precision) == (20, 500, 0.01)
    given = evaluate.plan(
        eval_config("run_id=abc", "episodes=20", "precision=0", "max_episodes=40"), trained
    )
    assert (given.max_episodes, given.precision) == (40, 0.0)
    older = OmegaConf.create({"seed": 0})  # a record without eval.final: exactly `episodes`
    assert evaluate.plan(eval_config("run_id=abc", "episodes=700"), older).precision == 0.0
    assert evaluate.plan(eval_config("run_id=abc", "episodes=700"), trained).max_episodes == 700
