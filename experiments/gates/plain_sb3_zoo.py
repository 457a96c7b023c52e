"""Controls for the RL Zoo gate's misses: the pair's RL Zoo hyperparameters (rl_zoo3 2.9.2
hyperparams/*.yml, written out by hand below, not read through our converter) trained by SB3 /
sb3-contrib as a plain script, without Hydra, MLflow or our builder, and scored as the gate scores
(30 deterministic episodes on evaluation seeds training never used, against RL Zoo's mean − ½ its
per-episode std). A pair that misses here too misses for a reason outside the harness.

    python -m experiments.gates.plain_sb3_zoo ars/pendulum a2c/lunarlander --seeds 8000 8001 8002

Writes the record experiments/results/plain_sb3_zoo.json (every seed's closing evaluation, every
episode's return, its curve and times; --out names another) and its page, rendered from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
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

from experiments.gates.zoo_pairs import SEEDS, rows
from experiments.lib import records
from experiments.lib.common import RESULTS
from rl_harness.common import seeds as seed_blocks

EPISODES, POINTS = 30, 5
RECORD = RESULTS / "plain_sb3_zoo.json"


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


def train_and_score(pair: Pair, seed: int) -> tuple[list[float], list[float]]:
    """The closing evaluation's returns (unseen evaluation seeds), and the training curve."""
    env = env_of(pair, seed, training=True)
    model = pair.cls("MlpPolicy", env, seed=seed, device="cpu", **pair.kwargs)
    curve = Curve(pair.steps)
    model.learn(pair.steps, callback=curve)
    eval_env = env_of(pair, seed_blocks.EVAL_SEED_OFFSET + seed, training=False)
    if isinstance(env, VecNormalize) and isinstance(eval_env, VecNormalize):
        eval_env.obs_rms = env.obs_rms.copy()
    returns, _ = evaluate_policy(model, eval_env, EPISODES, return_episode_rewards=True)
    return [float(r) for r in returns], curve.points


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", choices=sorted(PAIRS), metavar="algo/env")
    ap.add_argument("--seeds", nargs="+", type=int, default=SEEDS)  # the gate's report seeds
    ap.add_argument("--out", type=Path, default=RECORD, help="the record")
    args = ap.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    head = records.header(" ".join(["python -m experiments.gates.plain_sb3_zoo", *words]))
    torch.set_num_threads(1)
    references = {r.key: r.reference for r in rows()}  # the gate's rule: mean − ½ episode std
    runs = []
    for key in args.pairs:
        ref = references[key]
        assert ref is not None and ref.value is not None
        for seed in args.seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            returns, curve = train_and_score(PAIRS[key], seed)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            runs.append({"pair": key, "seed": seed, "returns": returns, "curve": curve,
                         "threshold": ref.threshold(), "wall_s": wall, "cpu_s": cpu})  # fmt: skip
            print(f"{key} seed {seed}: {np.mean(returns):.1f} in {wall:.0f} s", flush=True)
    print(records.write({**head, "episodes": EPISODES, "points": POINTS, "runs": runs}, args.out))


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone."""
    lines = [
        "### Plain SB3 with RL Zoo's hyperparameters (controls for the gate's misses)", "",
        records.provenance_line(data), "",
        f"| pair | seed | closing mean ({data['episodes']} ep) | std | threshold | reached | "
        f"training curve ({data['points']} points) | wall s | cpu s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in data["runs"]:
        mean, std, threshold = np.mean(r["returns"]), np.std(r["returns"]), r["threshold"]
        cells = [r["pair"], r["seed"], f"{mean:.1f}", f"{std:.1f}", f"≥ {threshold:.1f}",
                 "yes" if mean >= threshold else "no", ", ".join(f"{c:.0f}" for c in r["curve"]),
                 f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
