"""Throughput of tabular Q-learning training vs the env's own step rate, measured in one run.

    python -m experiments.benchmarks.qlearning [--repeats 3] [--steps 200000] [--out PATH]

Writes the record experiments/results/qlearning_full.json (every rate of every repeat) and its
page, qlearning_full.md, rendered from it (`render`).

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
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rl_harness.envs.inventory_vec import InventoryVecEnv
from rl_harness.envs.random_mdp_vec import RandomMDPVecEnv
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from experiments.lib import records
from experiments.lib.common import RESULTS
from rl_harness.agents.qlearning import QLearning
from rl_harness.build import make as build

CARTPOLE_BINS = {"obs_bins": [6, 6, 12, 12], "obs_low": [-2.4, -3.0, -0.21, -3.5]}
CARTPOLE_BINS["obs_high"] = [-x for x in CARTPOLE_BINS["obs_low"]]
RECORD = RESULTS / "qlearning_full.json"


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


def measure(runners: list[Callable[[], int]], repeats: int) -> list[list[float]]:
    """Each runner's rate in each of ``repeats`` interleaved rounds: on a shared machine, load
    changes over time, and interleaving exposes all runners to the same conditions. The table
    shows the best round of each."""
    rounds: list[list[float]] = [[] for _ in runners]
    for _ in range(repeats):
        for kept, run in zip(rounds, runners, strict=True):
            kept.append(rate(run))
    return rounds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200_000, help="per measurement, gym envs")
    parser.add_argument("--out", type=Path, help=f"the record (default {records.shown(RECORD)})")
    args = parser.parse_args(argv)
    command = (
        f"python -m experiments.benchmarks.qlearning --repeats {args.repeats} --steps {args.steps}"
        + (f" --out {records.shown(args.out)}" if args.out else "")
    )
    head = records.header(command)  # before measuring: the code as the run found it
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
    record = {
        **head,
        "repeats": args.repeats,
        "steps": args.steps,
        "rows": [
            {"env": name, "n_envs": n_envs, "raw_per_s": raw, "vecenv_per_s": vec, "ql_per_s": ql}
            for name, n_envs, raw, vec, ql in rows
        ],
    }
    print(records.write(record, args.out or RECORD))


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone: the best round of each rate."""
    lines = [
        f"### Q-learning throughput (best of {data['repeats']} repeats)",
        "",
        records.provenance_line(data),
        "",
        "```",
        f"{'env':<28}{'n_envs':>7}{'raw/s':>13}{'vecenv/s':>13}{'QL train/s':>13}"
        f"{'QL/raw':>8}{'QL/vecenv':>10}",
    ]
    for r in data["rows"]:
        raw, vec, ql = (max(r[k]) for k in ("raw_per_s", "vecenv_per_s", "ql_per_s"))
        lines.append(
            f"{r['env']:<28}{r['n_envs']:>7}{raw:>13,.0f}{vec:>13,.0f}{ql:>13,.0f}"
            f"{ql / raw:>8.2f}{ql / vec:>10.2f}"
        )
    return "\n".join([*lines, "```"]) + "\n"


if __name__ == "__main__":
    main()
