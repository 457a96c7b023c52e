"""How long a seed of an RL Zoo gate pair takes here on one torch thread, measured: the shipped
config built as the gate builds it, trained through its learning starts (timed), then a stretch
of `--steps` more (timed apart: the rate that the rest of the budget runs at). A seed's minutes
are the first part's time plus the rest of the budget at the stretch's rate; the closing
evaluation is left out, so a pair is rather under- than overestimated.

    python -m experiments.gates.zoo_rates --rows sac/lunarlander_continuous td3/pendulum

Why: issue 44 lets the gate keep 3 seeds for a pair whose seed takes over 30 minutes here, and
the wall times of the gate's first runs do not hold at one thread (docs/zoo-gate.md). The
record, experiments/results/zoo_gate_rates.json, is what zoo_results reads for such a pair
until its report seeds have their own wall time; `--plan` estimates from it too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from experiments.gates.zoo_pairs import LONG_MINUTES, OVERRIDES, rows
from experiments.lib import records
from experiments.lib.common import RESULTS, compose_cfg

RECORD = RESULTS / "zoo_gate_rates.json"
MIN_STEPS = 2000  # the timed stretch: at least this, or 1% of the budget


def timed(key: str, steps: int | None) -> dict[str, Any]:
    """One pair's learning starts and a stretch after them, each timed (wall and CPU)."""
    import torch

    from rl_harness.build import make as build
    from rl_harness.training import train

    algo, env_name = key.split("/")
    cfg = compose_cfg([f"algo={algo}", f"env={env_name}", *OVERRIDES, "mlflow.enabled=false",
                       "progress_bar=false", "torch_threads=1", "seed=0"])  # fmt: skip
    torch.set_num_threads(1)
    budget = int(cfg.n_timesteps)
    starts = min(int(cfg.algo.get("learning_starts", 0) or 0), budget)
    stretch = steps or max(MIN_STEPS, budget // 100)
    env = build.make_env(cfg)
    model = build.make_model(cfg, env, train.validate(cfg)[1])
    wall, cpu = time.perf_counter(), time.process_time()
    if starts:
        model.learn(starts)
    first = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(stretch, reset_num_timesteps=not starts)
    rest = (time.perf_counter() - wall, time.process_time() - cpu)
    env.close()
    per_step = rest[0] / stretch
    return {
        "pair": key,
        "budget": budget,
        "learning_starts": starts,
        "starts_wall_s": first[0],
        "stretch_steps": stretch,
        "stretch_wall_s": rest[0],
        "stretch_cpu_s": rest[1],
        "minutes_per_seed": (first[0] + (budget - starts) * per_step) / 60,
    }


def render(data: dict[str, Any]) -> str:
    """The record's page."""
    lines = [
        "# How long a gate pair's seed takes here, on one torch thread",
        "",
        records.provenance_line(data),
        "",
        f"Each pair's shipped config, built as the gate builds it (`{' '.join(OVERRIDES)}`), "
        "trained through its learning starts, then a timed stretch; minutes a seed = the first "
        "part's wall time + the rest of the budget at the stretch's rate (no closing "
        f"evaluation). Over {LONG_MINUTES:.0f} min a seed, a pair may keep 3 seeds.",
        "",
        "| pair | budget | learning starts | s | stretch | s (CPU s) | steps/s | min / seed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["pairs"]:
        rate = r["stretch_steps"] / r["stretch_wall_s"]
        lines.append(
            f"| {r['pair']} | {r['budget']:,} | {r['learning_starts']:,} | "
            f"{r['starts_wall_s']:.1f} | {r['stretch_steps']:,} | {r['stretch_wall_s']:.1f} "
            f"({r['stretch_cpu_s']:.1f}) | {rate:,.0f} | {r['minutes_per_seed']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def record_path(data: dict[str, Any]) -> Path:
    """Where the record goes (one for every pair timed)."""
    return RECORD


def minutes(results: Path = RESULTS) -> dict[tuple[str, str], tuple[int, float]]:
    """(algo, env) → (its budget, its measured minutes a seed), from the record (none where it
    is not written)."""
    path = results / RECORD.relative_to(RESULTS)
    if not path.exists():
        return {}
    found = records.load(path)["pairs"]
    return {_pair(r["pair"]): (r["budget"], r["minutes_per_seed"]) for r in found}


def _pair(key: str) -> tuple[str, str]:
    algo, env = key.split("/")
    return algo, env


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", required=True, help="the pairs, e.g. td3/pendulum")
    ap.add_argument("--steps", type=int, help=f"the timed stretch (default ≥ {MIN_STEPS})")
    args = ap.parse_args(argv)
    known = {r.key for r in rows()}
    if unknown := sorted(set(args.rows) - known):
        ap.error(f"unknown rows {unknown}; choose from the gate's pairs (zoo_pairs.ZOO_SCORES)")
    if args.steps is not None and args.steps < 1:
        ap.error(f"--steps {args.steps}: give 1 or more")
    command = "python -m experiments.gates.zoo_rates " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    pairs = []
    for key in args.rows:
        pairs.append(timed(key, args.steps))
        print(f"{key}: {pairs[-1]['minutes_per_seed']:.1f} min a seed", flush=True)
    print(records.write({**records.header(command.strip()), "pairs": pairs}, RECORD))


if __name__ == "__main__":
    main()
