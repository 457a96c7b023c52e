"""Callbacks on SB3's callback API: evaluation extras and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
)
from stable_baselines3.common.vec_env import VecEnv


class EvalExtras(BaseCallback):
    """Runs after each evaluation of its parent `EvalCallback`.

    Adds what SB3's EvalCallback does not record: `eval/std_reward` and, where the task's best
    possible return is known, `eval/optimality` (mean return / optimum).
    """

    def __init__(self, optimum: float | None = None) -> None:
        super().__init__()
        self.optimum = optimum

    def _on_step(self) -> bool:
        parent = self.parent
        assert isinstance(parent, EvalCallback)
        rewards = np.asarray(parent.evaluations_results[-1], dtype=float)
        self.logger.record("eval/std_reward", float(rewards.std()))
        if self.optimum:
            self.logger.record("eval/optimality", float(rewards.mean()) / self.optimum)
        self.logger.dump(self.num_timesteps)
        return True


def make_callbacks(cfg: DictConfig, eval_env: VecEnv | None, out_dir: Path,
                   optimum: float | None = None,
                   after_eval: list[BaseCallback] | None = None) -> list[BaseCallback]:
    """Evaluation (best model kept) and checkpoints, with frequencies in timesteps."""
    callbacks: list[BaseCallback] = []
    per_env = max(cfg.n_envs, 1)
    if eval_env is not None and cfg.eval.freq > 0:
        extras: list[BaseCallback] = [EvalExtras(optimum), *(after_eval or [])]
        callbacks.append(EvalCallback(
            eval_env,
            callback_after_eval=CallbackList(extras),
            n_eval_episodes=cfg.eval.episodes,
            eval_freq=max(cfg.eval.freq // per_env, 1),
            deterministic=cfg.eval.deterministic,
            best_model_save_path=str(out_dir),
            log_path=str(out_dir),
            verbose=0,
        ))
    if cfg.checkpoint.freq > 0:
        callbacks.append(CheckpointCallback(
            save_freq=max(cfg.checkpoint.freq // per_env, 1),
            save_path=str(out_dir / "checkpoints"),
            name_prefix="model",
            save_replay_buffer=cfg.checkpoint.replay_buffer,
            save_vecnormalize=True,
        ))
    return callbacks
