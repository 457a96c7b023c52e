"""Harness overhead: `python -m rl_harness algo=ppo env=cartpole` against a plain SB3 script.

Runs the variants alternately (order rotated each round) as separate processes and prints the
median wall time of each, its ratio to the plain script measured in the same run, and the final
evaluation (which must be identical: the harness adds nothing to the learning).

    python experiments/bench_overhead.py                   # 100k steps, 3 rounds
    python experiments/bench_overhead.py --timesteps 20000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.bench_common import provenance  # noqa: E402

RATIO_TARGET = 1.05  # harness (MLflow on) / plain SB3 script
MLFLOW_TARGET = 2.0  # % of wall time, MLflow on vs off


def variants(steps: int, tmp: str) -> dict[str, list[str]]:
    py = sys.executable
    harness = [
        py,
        "-m",
        "rl_harness",
        "algo=ppo",
        "env=cartpole",
        f"n_timesteps={steps}",
        "progress_bar=false",
        f"hydra.run.dir={tmp}/run_${{now:%H%M%S%f}}",
    ]
    return {
        "plain SB3 script": [
            py,
            str(ROOT / "experiments/plain_sb3_ppo_cartpole.py"),
            str(steps),
            f"{tmp}/plain",
        ],
        "harness (MLflow on)": harness,
        "harness (MLflow off)": [*harness, "mlflow.enabled=false"],
        "plain SB3, no eval": [
            py,
            str(ROOT / "experiments/plain_sb3_ppo_cartpole.py"),
            str(steps),
            f"{tmp}/plain0",
            "0",
        ],
        "harness, no eval, MLflow off": [*harness, "mlflow.enabled=false", "eval.freq=0"],
    }


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    elapsed = time.perf_counter() - start
    match = re.search(r"eval (-?[\d.]+)", out.stdout)
    return elapsed, match.group(1) if match else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        cmds = variants(args.timesteps, tmp)
        subprocess.run(
            cmds["harness (MLflow on)"][:3] + ["--cfg", "job"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            check=True,
        )  # warm caches
        times: dict[str, list[float]] = {k: [] for k in cmds}
        evals: dict[str, set[str]] = {k: set() for k in cmds}
        names = list(cmds)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t, ev = timed(cmds[name], env)
                times[name].append(t)
                evals[name].add(ev)
                print(f"  round {r + 1}: {name:<30} {t:7.1f} s  eval {ev}", file=sys.stderr)
    base = statistics.median(times["plain SB3 script"])
    base0 = statistics.median(times["plain SB3, no eval"])
    command = (
        f"python experiments/bench_overhead.py --timesteps {args.timesteps} --rounds {args.rounds}"
    )
    print(f"\n{provenance(command)}\n")
    print(f"PPO CartPole-v1, {args.timesteps} steps, {args.rounds} rounds, median wall time\n")
    print("| variant | wall s | ratio | final eval |")
    print("|---|---|---|---|")
    for name in names:
        med = statistics.median(times[name])
        ref = base0 if "no eval" in name else base
        print(f"| {name} | {med:.1f} | {med / ref:.3f} | {', '.join(sorted(evals[name]))} |")
    on = statistics.median(times["harness (MLflow on)"])
    off = statistics.median(times["harness (MLflow off)"])
    ratio = on / base
    groups = ([n for n in names if "no eval" not in n], [n for n in names if "no eval" in n])
    same = all(len(set().union(*(evals[n] for n in g))) == 1 for g in groups)
    print(
        f"\nHarness / plain SB3 wall time: {ratio:.3f} (target ≤ {RATIO_TARGET}: "
        f"{'met' if ratio <= RATIO_TARGET else 'NOT met'}); final evaluations "
        f"{'identical' if same else 'DIFFER'} (plain vs harness, every round)"
    )
    overhead = 100 * (on - off) / off
    print(
        f"MLflow tracking overhead: {overhead:+.1f}% of wall time (target ≤ {MLFLOW_TARGET}%: "
        f"{'met' if overhead <= MLFLOW_TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
