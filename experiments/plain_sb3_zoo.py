"""Controls for the RL Zoo gate's misses: the pair's RL Zoo hyperparameters (rl_zoo3 2.9.2
hyperparams/*.yml, written out by hand below, not read through our converter) trained by SB3 /
sb3-contrib as a plain script, without Hydra, MLflow or our builder, and scored as the gate scores
(30 deterministic episodes on evaluation seeds training never used, against RL Zoo's mean − ½ its
per-episode std). A pair that misses here too misses for a reason outside the harness.

    python -m experiments.plain_sb3_zoo ars/pendulum a2c/lunarlander --seeds 8000 8001 8002
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sb3_contrib import ARS, QRDQN
from stable_baselines3 import A2C, DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from experiments.bench_zoo_gate import SEEDS, rows
from rl_harness.common import seeds as seed_blocks

EPISODES, POINTS = 30, 5


@dataclass(frozen=True)
class Pair:
    cls: type[BaseAlgorithm]
    env_id: str
    n_envs: int
    steps: int
    kwargs: dict[str, Any]
    norm_obs: bool = False


PAIRS = {
    "ars/pendulum": Pair(ARS, "Pendulum-v1", 1, 2_000_000, {
        "learning_rate": 0.018, "n_delta": 4, "n_top": 1, "delta_std": 0.1,
        "policy_kwargs": {"net_arch": [16]}, "zero_policy": False}, norm_obs=True),
    "a2c/lunarlander": Pair(A2C, "LunarLander-v3", 8, 200_000, {
        "gamma": 0.995, "n_steps": 5, "learning_rate": lambda progress: progress * 0.00083,
        "ent_coef": 0.00001}),
    "dqn/mountaincar": Pair(DQN, "MountainCar-v0", 1, 120_000, {
        "learning_rate": 4e-3, "batch_size": 128, "buffer_size": 10_000, "learning_starts": 1000,
        "gamma": 0.98, "target_update_interval": 600, "train_freq": 16, "gradient_steps": 8,
        "exploration_fraction": 0.2, "exploration_final_eps": 0.07,
        "policy_kwargs": {"net_arch": [256, 256]}}),
    "qrdqn/acrobot": Pair(QRDQN, "Acrobot-v1", 1, 100_000, {
        "learning_rate": 6.3e-4, "batch_size": 128, "buffer_size": 50_000, "learning_starts": 0,
        "gamma": 0.99, "target_update_interval": 250, "train_freq": 4, "gradient_steps": -1,
        "exploration_fraction": 0.12, "exploration_final_eps": 0.1,
        "policy_kwargs": {"net_arch": [256, 256], "n_quantiles": 25}}),
}  # fmt: skip


class Curve(BaseCallback):
    """Mean training return of the recent episodes at POINTS even steps of the budget."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.every, self.points = steps // POINTS, []

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.every * (len(self.points) + 1):
            buffer = self.model.ep_info_buffer or []
            self.points.append(float(np.mean([e["r"] for e in buffer])) if buffer else np.nan)
        return True


def env_of(pair: Pair, seed: int, training: bool) -> VecEnv:
    env = make_vec_env(pair.env_id, n_envs=pair.n_envs if training else 1, seed=seed)
    if pair.norm_obs:
        env = VecNormalize(env, training=training, norm_obs=True, norm_reward=False)
    return env


def train_and_score(pair: Pair, seed: int) -> tuple[float, float, list[float]]:
    """Closing mean over unseen evaluation seeds, its std, and the training curve."""
    env = env_of(pair, seed, training=True)
    model = pair.cls("MlpPolicy", env, seed=seed, device="cpu", **pair.kwargs)
    curve = Curve(pair.steps)
    model.learn(pair.steps, callback=curve)
    eval_env = env_of(pair, seed_blocks.EVAL_SEED_OFFSET + seed, training=False)
    if isinstance(env, VecNormalize) and isinstance(eval_env, VecNormalize):
        eval_env.obs_rms = env.obs_rms.copy()
    returns, _ = evaluate_policy(model, eval_env, EPISODES, return_episode_rewards=True)
    return float(np.mean(returns)), float(np.std(returns)), curve.points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", choices=sorted(PAIRS), metavar="algo/env")
    ap.add_argument("--seeds", nargs="+", type=int, default=SEEDS)  # the gate's report seeds
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"| pair | seed | closing mean ({EPISODES} ep) | std | threshold | reached | training "
          f"curve ({POINTS} points) | wall s | cpu s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    references = {r.key: r.reference for r in rows()}  # the gate's rule: mean − ½ episode std
    for key in args.pairs:
        ref = references[key]
        assert ref is not None and ref.value is not None
        threshold = ref.threshold()
        for seed in args.seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            mean, std, curve = train_and_score(PAIRS[key], seed)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            cells = [key, seed, f"{mean:.1f}", f"{std:.1f}", f"≥ {threshold:.1f}",
                     "yes" if mean >= threshold else "no", ", ".join(f"{c:.0f}" for c in curve),
                     f"{wall:.0f}", f"{cpu:.0f}"]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
