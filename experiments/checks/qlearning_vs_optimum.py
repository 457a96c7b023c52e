"""Train tabular Q-learning from the shipped hyperparameter files; compare with the exact optimum.

    python -m experiments.checks.qlearning_vs_optimum [--seeds 8000 ... 8004] [--episodes 1000]

For each seed: the greedy policy's expected return over the TimeLimit horizon, computed exactly
from ``env.unwrapped.P`` (for FrozenLake: its success rate), ``evaluate_policy`` over
``--episodes`` sampled episodes as a cross-check, and the training wall time. The optimum is the
finite-horizon backward-induction value (exact, an upper bound even for non-stationary policies).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from experiments.lib.common import ROOT
from rl_harness.agents.qlearning import QLearning
from rl_harness.agents.tabular_optimum import optimum_summary, policy_return
from rl_harness.common import seeds as seed_blocks

CONF = ROOT / "conf" / "hparams"
TASKS = {
    "FrozenLake-v1": ("qlearning_frozenlake.yaml", 0.03),
    "Taxi-v4": ("qlearning_taxi.yaml", 0.5),
}


def run_task(env_id: str, seeds: list[int], episodes: int) -> None:
    hparams_file, tolerance = TASKS[env_id]
    cfg = yaml.safe_load((CONF / hparams_file).read_text())
    env = gym.make(env_id)
    horizon = env.spec.max_episode_steps
    optimum = optimum_summary(env, horizon)
    print(f"\n{env_id}: {hparams_file} n_timesteps={cfg['n_timesteps']} n_envs={cfg['n_envs']}")
    print(
        f"  optimum over {horizon} steps: finite-horizon {optimum['finite_horizon']:.4f}, "
        f"best stationary found {optimum['stationary']:.4f}; tolerance {tolerance}"
    )
    states = np.arange(env.observation_space.n)
    for seed in seeds:
        venv = make_vec_env(env_id, n_envs=cfg["n_envs"], seed=seed)
        start = time.perf_counter()
        model = QLearning(venv, seed=seed, **cfg["algo"]).learn(cfg["n_timesteps"])
        wall = time.perf_counter() - start
        exact = policy_return(env, model.predict(states, deterministic=True)[0], horizon)
        eval_env = make_vec_env(env_id, n_envs=8, seed=seed_blocks.EVAL_SEED_OFFSET + seed)
        sampled, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes)
        gap = optimum["finite_horizon"] - exact
        verdict = "ok" if gap <= tolerance else "FAIL"
        print(
            f"  seed {seed}: exact {exact:.4f} (gap {gap:.4f}, {verdict})"
            f", sampled {sampled:.3f} over {episodes} episodes, train {wall:.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=seed_blocks.take(seed_blocks.REPORT, 5)
    )
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    for env_id in TASKS:
        run_task(env_id, args.seeds, args.episodes)


if __name__ == "__main__":
    main()
