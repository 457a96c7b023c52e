"""`python -m rl_harness.evaluate run_id=<id> episodes=100 [video=true]` — evaluate a trained
agent and record an evaluation run linked to its training run.

    agent (run_id or model_path) ──► eval env with the run's VecNormalize statistics
      ──► N episodes ──► MLflow run (child of the training run, tag run_type=evaluation):
          eval/mean_reward, eval/std_reward, eval/ci95, eval/mean_ep_length, eval/optimality
          (when the task's optimum is known), eval/episode_return per episode, episodes.csv,
          video/*.mp4
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import hydra
import numpy as np
from omegaconf import DictConfig
from stable_baselines3.common.evaluation import evaluate_policy

from rl_harness.build import make as build
from rl_harness.common.stats import ci95, evaluation, mean_std
from rl_harness.config import commands
from rl_harness.config.names import env_experiment
from rl_harness.config.preflight import CONF_DIR
from rl_harness.tracking import runs as tracking
from rl_harness.tracking.recorder import NullRecorder
from rl_harness.training import saved_agent as agents
from rl_harness.training import train

RUN_TYPE = "evaluation"


def validate(cfg: DictConfig) -> None:
    """The command line's rules (config.commands), also for callers that compose the config."""
    commands.check("evaluate", cfg)


def load(cfg: DictConfig, dst: Path) -> agents.TrainedAgent:
    if cfg.run_id:
        return agents.from_run(str(cfg.run_id), dst, cfg.checkpoint)
    return agents.from_path(cfg.model_path, cfg.config)


def episodes(
    agent: agents.TrainedAgent, n: int, n_envs: int, seed: int | None, deterministic: bool
) -> tuple[list[float], list[int]]:
    """Returns and lengths of n episodes (n_envs at once)."""
    env = agents.make_eval_env(agent, min(n_envs, n), seed)
    try:
        returns, lengths = cast(  # return_episode_rewards=True: one entry per episode
            tuple[list[float], list[int]],
            evaluate_policy(
                agent.model,
                env,
                n_eval_episodes=n,
                deterministic=deterministic,
                return_episode_rewards=True,
            ),
        )
    finally:
        env.close()
    return [float(r) for r in returns], [int(x) for x in lengths]


def record_video(
    agent: agents.TrainedAgent,
    n: int,
    out_dir: Path,
    seed: int | None,
    deterministic: bool,
    fps: int | None,
) -> list[Path]:
    """n episodes rendered as rgb_array frames, one MP4 per episode."""
    import imageio.v2 as imageio

    env = agents.make_eval_env(agent, 1, seed, render=True)
    fps = fps or env.get_attr("metadata")[0].get("render_fps") or 30
    paths = []
    try:
        obs = env.reset()
        for i in range(n):
            frames: list[Any] = [env.get_images()[0]]
            done, state = False, None
            start = np.ones((1,), dtype=bool)
            while not done:
                action, state = agent.model.predict(
                    obs, state=state, episode_start=start, deterministic=deterministic
                )
                obs, _, dones, _ = env.step(action)
                done, start = bool(dones[0]), dones
                if not done:  # after done the env has already reset to the next episode
                    frames.append(env.get_images()[0])
            path = out_dir / f"episode_{i}.mp4"
            imageio.mimwrite(path, [_even(f) for f in frames], fps=fps, macro_block_size=1)
            paths.append(path)
    finally:
        env.close()
    return paths


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 wants even frame sizes."""
    h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    return frame[:h, :w]


def summary(returns: list[float], lengths: list[int], optimum: float | None) -> dict[str, float]:
    mean, std = mean_std(returns)
    out = {
        "eval/mean_reward": mean,
        "eval/std_reward": std,
        "eval/ci95": ci95(returns),  # half-width of the 95% CI of the mean, as final/ci95
        "eval/mean_ep_length": float(np.mean(lengths)),
        "eval/episodes": float(len(returns)),
    }
    if optimum:
        out["eval/optimality"] = out["eval/mean_reward"] / optimum
    return out


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate one trained agent and record the evaluation; returns the summary.

    What can be known before playing is checked first (the config, the agent, that its env
    renders frames for `video=true`); the evaluation run opens before the first episode, so an
    evaluation that fails after it started is recorded FAILED, with its error."""
    validate(cfg)
    out_dir = out_dir or train.output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        agent = load(cfg, Path(tmp))
        if cfg.video:
            build.check_renders(agent.cfg.env.id)
        optimum = train.optimum(agent.cfg)
        seed = cfg.seed if cfg.seed is not None else agent.cfg.seed + build.EVAL_SEED_OFFSET
        with _recording(cfg, agent, seed) as recorder:
            returns, lengths = episodes(agent, cfg.episodes, cfg.n_envs, seed, cfg.deterministic)
            stats = summary(returns, lengths, optimum)
            table = out_dir / "episodes.csv"
            with table.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["episode", "return", "length"])
                writer.writerows(zip(range(len(returns)), returns, lengths, strict=True))
            videos = (
                record_video(
                    agent, cfg.video_episodes, out_dir, seed, cfg.deterministic, cfg.video_fps
                )
                if cfg.video
                else []
            )
            recorder.log_metrics({**stats, **({"optimum": optimum} if optimum else {})}, step=0)
            tracking.log_series(recorder, "eval/episode_return", returns)
            for path in [table, *videos]:
                recorder.log_artifact(path, "video" if path.suffix == ".mp4" else None)
            run_id = recorder.run_id
    print(
        f"evaluation {run_id or '(tracking off)'} of {agent.run_id or agent.model_path} "
        f"({agent.algo} on {agent.cfg.env.id}): {evaluation(returns, optimum)}"
    )
    return {
        **stats,
        "run_id": run_id,
        "returns": returns,
        "lengths": lengths,
        "optimum": optimum,
        "videos": [str(v) for v in videos],
    }


@contextmanager
def _recording(cfg: DictConfig, agent: agents.TrainedAgent, seed: int) -> Iterator[Any]:
    """The evaluation run (a NullRecorder with tracking off), its params logged; it ends
    FINISHED, or FAILED with the error (tracking.mlflow_run)."""
    if not cfg.mlflow.enabled:
        yield NullRecorder()
        return
    if cfg.mlflow.experiment:
        experiment = cfg.mlflow.experiment
    elif agent.run_id:
        experiment = tracking.experiment_name(tracking.get_run(agent.run_id).info.experiment_id)
    else:
        experiment = env_experiment(agent.cfg.env.id)
    tags = {
        "run_type": RUN_TYPE,
        "algo": agent.algo,
        "env": agent.cfg.env.id,
        "source_run_id": agent.run_id or "",
        "source_model": str(agent.model_path),
    }
    source_name = tracking.get_run(agent.run_id).info.run_name if agent.run_id else agent.algo
    with tracking.mlflow_run(
        experiment,
        cfg.mlflow.run_name or f"eval-{source_name}",
        tags=tags,
        parent_run_id=agent.run_id,
        unique_name=not cfg.mlflow.run_name,
    ) as recorder:
        recorder.log_params(
            {
                "episodes": cfg.episodes,
                "deterministic": cfg.deterministic,
                "seed": seed,
                "checkpoint": cfg.checkpoint if agent.run_id else "",
                "source_seed": agent.cfg.seed,
            }
        )
        yield recorder


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with commands.reporting("rl_harness.evaluate"):
        run(cfg)
