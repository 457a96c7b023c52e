"""Evaluation of a trained agent: from a run or a path, with its statistics, linked, with video."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from omegaconf import OmegaConf
from stable_baselines3 import PPO

from rl_harness.analysis import evaluate
from rl_harness.build import make as build
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
            "model_path=model.zip", "episodes=4", "n_envs=4", "video=true", "video_episodes=1"
        )
    )
    optimum = train.optimum(cfg)
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
