"""Agents on the inventory task (env=custom) through the harness, scored against the optimum.

For each algorithm and seed: one harness run with the shipped hyperparameters (MLflow records
it), then two scores of the final policy — the harness's sampled evaluation and the exact
expected return of the deterministic policy (envs.inventory_dp.agent_return: no sampling noise)
— both as % of the exact optimum; plus timesteps, wall time and training steps/s.

    python -m experiments.checks.custom_optimality --algos qlearning   # report seeds 8000-8002
    python -m experiments.checks.custom_optimality --algos ppo dqn --seeds 8000 8001
"""

from __future__ import annotations

import argparse
import contextlib
import time
from datetime import datetime

from rl_harness.envs.inventory_dp import agent_return

from experiments.lib.common import ROOT, compose_cfg, pin_tracking_store
from rl_harness.build import registry as algos
from rl_harness.common import seeds as seed_blocks
from rl_harness.config.runtime import to_plain
from rl_harness.training import train

OUTPUTS = ROOT / "outputs" / "custom_optimality" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}"


def run(algo: str, env: str, seed: int, extra: list[str]) -> dict:
    cfg = compose_cfg(
        [
            f"algo={algo}",
            f"env={env}",
            f"seed={seed}",
            "progress_bar=false",
            "mlflow.experiment=custom_optimality",
            *extra,
        ]
    )
    out_dir = OUTPUTS / f"{algo}_{env}_s{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(out_dir):  # train.run writes to the working directory outside Hydra
        start = time.perf_counter()
        result = train.run(cfg)
        wall = time.perf_counter() - start
    agent = algos.get_class(algo).load(result["model_path"], device="cpu")
    exact = agent_return(agent, **(to_plain(cfg.env.kwargs) or {}))
    return {**result, "wall": wall, "exact": exact}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algos", nargs="+", default=["qlearning"])
    ap.add_argument("--env", default="custom")
    ap.add_argument("--seeds", nargs="+", type=int, default=seed_blocks.take(seed_blocks.REPORT, 3))
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. n_timesteps=1e6")
    args = ap.parse_args()
    pin_tracking_store()
    rows = []
    for algo in args.algos:
        for seed in args.seeds:
            r = run(algo, args.env, seed, args.overrides)
            rows.append((algo, seed, r))
    print(
        "\n| algo | seed | timesteps | wall s | steps/s | sampled eval (% opt) | "
        "exact return (% opt) |"
    )
    print("|---|---|---|---|---|---|---|")
    for algo, seed, r in rows:
        opt = r["optimum"]
        print(
            f"| {algo} | {seed} | {r['timesteps']:,} | {r['wall']:.0f} | "
            f"{r['timesteps'] / r['wall']:,.0f} | {r['mean_reward']:.1f} ± {r['std_reward']:.1f} "
            f"({100 * r['mean_reward'] / opt:.2f}%) | {r['exact']:.1f} "
            f"({100 * r['exact'] / opt:.2f}%) |"
        )
    print(f"\noptimum (exact DP): {rows[0][2]['optimum']:.2f}")


if __name__ == "__main__":
    main()
