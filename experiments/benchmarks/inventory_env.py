"""Throughput of the inventory env forms and DP solve times (numbers for the README).

Run from the repository root: python -m experiments.benchmarks.inventory_env [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from rl_harness.envs.inventory import InventoryEnv
from rl_harness.envs.inventory_dp import best_base_stock, best_s_S, optimal_value
from rl_harness.envs.inventory_vec import InventoryVecEnv


def scalar_rate(seconds: float) -> float:
    """Env steps per second of one InventoryEnv with pre-generated random actions."""
    env = InventoryEnv()
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 11, 4096).tolist()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions:
            if env.step(a)[3]:
                env.reset()
        steps += len(actions)
    return steps / (time.perf_counter() - start)


def vec_rate(num_envs: int, seconds: float) -> float:
    """Copy-steps per second of InventoryVecEnv(num_envs) with pre-generated random actions."""
    env = InventoryVecEnv(num_envs, seed=0)
    env.reset()
    actions = np.random.default_rng(0).integers(0, 11, (256, num_envs))
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions:
            env.step(a)
        calls += len(actions)
    return calls * num_envs / (time.perf_counter() - start)


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per throughput row")
    seconds = parser.parse_args().seconds
    print(f"{'what':<36}{'result':>16}")
    print(f"{'scalar InventoryEnv':<36}{scalar_rate(seconds):>12,.0f} st/s")
    for n in (1, 64, 1024):
        print(f"{f'InventoryVecEnv N={n}':<36}{vec_rate(n, seconds):>12,.0f} st/s")
    for lead in (0, 1, 2):
        solve = best_time(lambda lead=lead: optimal_value(lead_time=lead))
        print(f"{f'DP optimum, lead_time={lead}':<36}{solve * 1e3:>13.1f} ms")
    for lead in (0, 1):
        for name, fn in (("base-stock", best_base_stock), ("(s,S)", best_s_S)):
            search = best_time(lambda fn=fn, lead=lead: fn(lead_time=lead))
            print(f"{f'best {name} search, lead_time={lead}':<36}{search * 1e3:>13.1f} ms")


if __name__ == "__main__":
    main()
