"""Control for the RL Zoo gate's ARS/Pendulum miss: sb3-contrib's ARS with RL Zoo's
hyperparameters for Pendulum-v1 (rl_zoo3 2.9.2 hyperparams/ars.yml, as
conf/hparams/ars_pendulum.yaml holds them), as a plain script without Hydra, MLflow or our
builder. If this misses RL Zoo's score too, the gap lies between RL Zoo's published agent and
its current hyperparameters, not in the harness.

Usage: python experiments/plain_sb3_ars_pendulum.py [seed ...] (default 0 1 2)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from sb3_contrib import ARS
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

ENV, STEPS, EPISODES = "Pendulum-v1", 2_000_000, 30
THRESHOLD = -212.540 - 160.444 / 2  # RL Zoo's mean - half its per-episode std


def train_and_score(seed: int) -> tuple[float, float, list[float]]:
    """Closing mean over unseen evaluation seeds, its std, and the curve every 400k steps."""
    env = VecNormalize(make_vec_env(ENV, n_envs=1, seed=seed), norm_obs=True, norm_reward=False)
    model = ARS(
        "MlpPolicy", env, learning_rate=0.018, n_delta=4, n_top=1, delta_std=0.1,
        policy_kwargs={"net_arch": [16]}, zero_policy=False, seed=seed, device="cpu",
    )  # fmt: skip
    curve = []
    while model.num_timesteps < STEPS:
        model.learn(400_000, reset_num_timesteps=False)
        curve.append(float(np.mean([ep["r"] for ep in model.ep_info_buffer])))
    eval_env = VecNormalize(
        make_vec_env(ENV, n_envs=1, seed=10_000 + seed), training=False, norm_reward=False
    )
    eval_env.obs_rms = env.obs_rms.copy()
    returns, _ = evaluate_policy(model, eval_env, EPISODES, return_episode_rewards=True)
    return float(np.mean(returns)), float(np.std(returns)), curve


def main(seeds: list[int]) -> None:
    torch.set_num_threads(1)
    print(f"| seed | closing mean ({EPISODES} ep) | std | ≥ {THRESHOLD:.1f} | training curve "
          "(every 400k steps) | wall s | cpu s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for seed in seeds:
        wall, cpu = time.perf_counter(), time.process_time()
        mean, std, curve = train_and_score(seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        reached = "yes" if mean >= THRESHOLD else "no"
        points = ", ".join(f"{c:.0f}" for c in curve)
        cells = [seed, f"{mean:.1f}", f"{std:.1f}", reached, points, f"{wall:.0f}", f"{cpu:.0f}"]
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [0, 1, 2])
