"""Throughput of tabular Q-learning training vs the env's own step rate, measured in one run.

Run from the repository root (so ``tests`` is importable for the VecEnv test double)::

    python -m experiments.bench_qlearning [--repeats 3]

Rows: a fast numpy VecEnv (N copies of a random MDP stepped at once) and scalar Gymnasium envs in
SB3's DummyVecEnv (``make_vec_env``, Monitor-wrapped, as the harness builds them). Columns: the raw
rate (numpy VecEnv: ``step`` with pre-drawn random actions; Gymnasium: ``gymnasium.make(id)``
stepped in a plain loop), the same VecEnv stepped with random actions (its own overhead), and
``QLearning.learn`` steps per second. Each figure is the best of ``--repeats`` interleaved runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from rl_harness.envs.inventory_vec import InventoryVecEnv
from rl_harness.envs.random_mdp_vec import RandomMDPVecEnv
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from experiments.bench_common import provenance
from rl_harness.agents.qlearning import QLearning
from rl_harness.build import make as build

CARTPOLE_BINS = {"obs_bins": [6, 6, 12, 12], "obs_low": [-2.4, -3.0, -0.21, -3.5]}
CARTPOLE_BINS["obs_high"] = [-x for x in CARTPOLE_BINS["obs_low"]]


def rate(run: Callable[[], int]) -> float:
    """Steps/s of one call of ``run`` (which returns the steps it took)."""
    start = time.perf_counter()
    steps = run()
    return steps / (time.perf_counter() - start)


def raw_gym_runner(env_id: str, steps: int) -> Callable[[], int]:
    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=steps).tolist()

    def run() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    return run


def vec_random_runner(venv: VecEnv, steps: int) -> Callable[[], int]:
    n = venv.num_envs
    actions = np.random.default_rng(0).integers(venv.action_space.n, size=(steps // n, n))
    venv.reset()

    def run() -> int:
        for a in actions:
            venv.step(a)
        return len(actions) * n

    return run


def learn_runner(venv: VecEnv, steps: int, **kwargs: object) -> Callable[[], int]:
    model = QLearning(venv, seed=0, **kwargs)
    model.learn(min(steps, 10_000))  # warm-up
    return lambda: model.learn(steps).num_timesteps


def measure(runners: list[Callable[[], int]], repeats: int) -> list[float]:
    """Best rate of each runner over ``repeats`` interleaved rounds: on a shared machine, load
    changes over time, and interleaving exposes all runners to the same conditions."""
    best = [0.0] * len(runners)
    for _ in range(repeats):
        best = [max(b, rate(run)) for b, run in zip(best, runners, strict=True)]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200_000, help="per measurement, gym envs")
    args = parser.parse_args()
    print(
        provenance(
            f"python -m experiments.bench_qlearning --repeats {args.repeats} --steps {args.steps}"
        )
    )
    header = f"{'env':<28}{'n_envs':>7}{'raw/s':>13}{'vecenv/s':>13}{'QL train/s':>13}"
    print(header + f"{'QL/raw':>8}{'QL/vecenv':>10}")
    rows = []
    for n_envs in (64, 256, 1024, 4096):
        venv = RandomMDPVecEnv(num_envs=n_envs, n_states=100, n_actions=4, horizon=100)
        steps = 2_000_000
        raw, ql = measure([vec_random_runner(venv, steps), learn_runner(venv, steps)], args.repeats)
        rows.append(("numpy RandomMDPVecEnv", n_envs, raw, raw, ql))
    for n_envs in (256, 1024, 4096):
        # the custom task as the harness builds it for training (env=custom): the numpy
        # InventoryVecEnv inside VecMonitor and the NaN check
        venv = build.FiniteCheck(VecMonitor(InventoryVecEnv(num_envs=n_envs, seed=0)))
        raw_env = InventoryVecEnv(num_envs=n_envs, seed=0)
        steps = 4_000_000
        raw, vec, ql = measure(
            [
                vec_random_runner(raw_env, steps),
                vec_random_runner(venv, steps),
                learn_runner(venv, steps),
            ],
            args.repeats,
        )
        rows.append(("inventory (env=custom)", n_envs, raw, vec, ql))
    for env_id, kwargs in (
        ("FrozenLake-v1", {}),
        ("Taxi-v4", {}),
        ("CartPole-v1", CARTPOLE_BINS),
    ):
        for n_envs in (8, 32):
            venv = make_vec_env(
                env_id, n_envs=n_envs, seed=0, vec_env_cls=build.ShallowDummyVecEnv
            )  # the harness's default
            runners = [
                raw_gym_runner(env_id, args.steps),
                vec_random_runner(venv, args.steps),
                learn_runner(venv, args.steps, **kwargs),
            ]
            rows.append((env_id, n_envs, *measure(runners, args.repeats)))
    for name, n_envs, raw, vec, ql in rows:
        print(
            f"{name:<28}{n_envs:>7}{raw:>13,.0f}{vec:>13,.0f}{ql:>13,.0f}"
            f"{ql / raw:>8.2f}{ql / vec:>10.2f}"
        )


if __name__ == "__main__":
    main()
