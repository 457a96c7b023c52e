"""The baseline for bench_overhead.py: PPO on CartPole as a plain SB3 script.

Same hyperparameters (conf/hparams/ppo_cartpole.yaml), seed, evaluation and checkpoint schedule
as `python -m rl_harness algo=ppo env=cartpole`, without Hydra or MLflow.
Usage: python -m experiments.benchmarks.plain_sb3_ppo_cartpole [n_timesteps] [out_dir] [eval_freq]
[checkpoint_freq] (defaults 100000, a temporary directory, 10000, 50000; 0 turns either off)
"""

from __future__ import annotations

import sys
import tempfile

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule


def main(n_timesteps: int, out_dir: str, eval_freq: int, checkpoint_freq: int) -> None:
    torch.set_num_threads(1)
    env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=10_000)
    model = PPO(
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
    callbacks = []
    if checkpoint_freq:
        callbacks.append(CheckpointCallback(checkpoint_freq // 8, f"{out_dir}/checkpoints"))
    if eval_freq:
        callbacks.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=10,
                eval_freq=eval_freq // 8,
                best_model_save_path=out_dir,
                log_path=out_dir,
            )
        )
    model.learn(n_timesteps, callback=callbacks)
    model.save(f"{out_dir}/model.zip")
    eval_env.seed(10_000)
    returns, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=10, deterministic=True, return_episode_rewards=True
    )
    mean = sum(returns) / len(returns)
    print(f"plain | eval {mean:.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 100_000,
        args[1] if len(args) > 1 else tempfile.mkdtemp(),
        int(args[2]) if len(args) > 2 else 10_000,
        int(args[3]) if len(args) > 3 else 50_000,
    )
