"""`python -m rl_harness.evaluate run_id=<id> episodes=100 [video=true]` — evaluate a trained
agent and record an evaluation run linked to its training run.

    agent (run_id or model_path) ──► eval env with the run's VecNormalize statistics
      ──► the closing evaluation (training.closing, as the training run's own): `episodes`,
          and where the task has an optimum more until the CI target (`precision`,
          `max_episodes`; null: the training run's eval.final)
      ──► MLflow run (child of the training run, tag run_type=evaluation): eval/mean_reward,
          eval/std_reward, eval/ci95, eval/episodes, eval/mean_ep_length, eval/optimality and
          eval/optimality_ci95 (when the task's optimum is known), eval/episode_return per
          episode, episodes.csv, video/*.mp4
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from rl_harness.build import make as build
from rl_harness.build.optimum import optimum as task_optimum
from rl_harness.common.stats import evaluation
from rl_harness.config import commands
from rl_harness.config.names import env_experiment
from rl_harness.config.preflight import CONF_DIR
from rl_harness.config.runtime import output_dir
from rl_harness.tracking import runs as tracking
from rl_harness.tracking.recorder import NullRecorder
from rl_harness.training import closing
from rl_harness.training import saved_agent as agents

RUN_TYPE = "evaluation"


def validate(cfg: DictConfig) -> None:
    """The command line's rules (config.commands), also for callers that compose the config."""
    commands.check("evaluate", cfg)


def load(cfg: DictConfig, dst: Path) -> agents.TrainedAgent:
    if cfg.run_id:
        return agents.from_run(str(cfg.run_id), dst, cfg.checkpoint)
    return agents.from_path(cfg.model_path, cfg.config)


def plan(cfg: DictConfig, trained: DictConfig) -> closing.Plan:
    """`episodes`; `precision` and `max_episodes`, else the training run's eval.final (an
    older record without them: exactly `episodes`)."""
    precision = cfg.precision
    if precision is None:
        precision = OmegaConf.select(trained, "eval.final.precision", default=0.0)
    most = cfg.max_episodes
    if most is None:
        most = OmegaConf.select(trained, "eval.final.max_episodes", default=cfg.episodes)
    return closing.Plan(cfg.episodes, max(most, cfg.episodes), float(precision), cfg.deterministic)


def episodes(
    agent: agents.TrainedAgent,
    plan: closing.Plan,
    n_envs: int,
    seed: int | None,
    optimum: float | None,
) -> closing.Episodes:
    """The closing evaluation (training.closing) on min(n_envs, episodes) envs at once."""
    env = agents.make_eval_env(agent, min(n_envs, plan.episodes), seed)
    try:
        return closing.evaluate(agent.model, env, plan, optimum)
    finally:
        env.close()


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


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate one trained agent and record the evaluation; returns the summary.

    What can be known before playing is checked first (the config, the agent, that its env
    renders frames for `video=true`); the evaluation run opens before the first episode, so an
    evaluation that fails after it started is recorded FAILED, with its error."""
    validate(cfg)
    out_dir = out_dir or output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        agent = load(cfg, Path(tmp))
        if cfg.video:
            build.check_renders(agent.cfg.env.id)
        optimum = task_optimum(agent.cfg)
        seed = cfg.seed if cfg.seed is not None else agent.cfg.seed + build.EVAL_SEED_OFFSET
        how = plan(cfg, agent.cfg)
        with _recording(cfg, agent, seed, how) as recorder:
            played = episodes(agent, how, cfg.n_envs, seed, optimum)
            returns, lengths = played.returns, played.lengths
            stats = {
                **closing.metrics("eval", played, optimum),
                "eval/mean_ep_length": float(np.mean(lengths)),
            }
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
def _recording(
    cfg: DictConfig, agent: agents.TrainedAgent, seed: int, how: closing.Plan
) -> Iterator[Any]:
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
                "max_episodes": how.max_episodes,
                "precision": how.precision,
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
