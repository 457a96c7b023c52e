"""What MLflow's system metrics cost a tracked run: `python -m rl_harness algo=ppo env=cartpole`
with `mlflow.system_metrics` on and off, PPO CartPole, evaluation and checkpoints off, each
variant its own process, rounds alternated (bench_overhead's measurement: CPU time of the
process tree, wall time, peak RSS; medians).

    python -m experiments.benchmarks.system_metrics                  # 100k steps, 3 rounds
    python -m experiments.benchmarks.system_metrics --timesteps 20000 --rounds 2

Writes the record experiments/results/system_metrics_full.json (every round; --out names
another) and its page, rendered from it (`render`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from experiments.benchmarks.overhead import Samples, harness, rounds
from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
from rl_harness.common import tables

NO_EVAL = ("eval.freq=0", "checkpoint.freq=0")
VARIANTS = {"system metrics off": "false", "system metrics on": "true"}
RECORD = RESULTS / "system_metrics_full.json"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, help=f"the record (default {records.shown(RECORD)})")
    args = ap.parse_args(argv)
    head = records.header(
        f"python -m experiments.benchmarks.system_metrics --timesteps {args.timesteps} "
        f"--rounds {args.rounds}" + (f" --out {records.shown(args.out)}" if args.out else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        # the store's first-run migrations are not a per-run cost
        subprocess.run(
            harness(256, tmp, *NO_EVAL), env=env, cwd=ROOT, check=True, capture_output=True
        )
        cmds = {
            ("no eval", name): harness(args.timesteps, tmp, *NO_EVAL, f"mlflow.system_metrics={on}")
            for name, on in VARIANTS.items()
        }
        samples = rounds(cmds, args.rounds, env)
    record = {
        **head,
        "timesteps": args.timesteps,
        "rounds": args.rounds,
        "load_at_end": round(os.getloadavg()[0], 1),
        "variants": {
            name: {
                **asdict(samples["no eval", name]),
                "evals": sorted(samples["no eval", name].evals),
            }
            for name in VARIANTS
        },
    }
    print(records.write(record, args.out or RECORD))


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone (medians over the rounds)."""
    off, on = (
        Samples(v["wall"], v["cpu"], v["trainer_mb"], v["largest_mb"], set(v["evals"]))
        for v in (data["variants"][name] for name in VARIANTS)
    )
    rows = [
        [name, f"{s.median('wall'):.1f}", f"{s.median('cpu'):.1f}", f"{s.median('largest_mb'):.0f}"]
        for name, s in zip(VARIANTS, (off, on), strict=True)
    ]
    cpu = on.median("cpu") - off.median("cpu")
    wall = on.median("wall") - off.median("wall")
    return "\n".join([
        "### System metrics", "", records.provenance_line(data), "",
        f"PPO CartPole-v1, {data['timesteps']} steps, {data['rounds']} rounds alternated, "
        f"medians; load average at end {data['load_at_end']}.", "",
        tables.markdown(["variant", "wall s", "CPU s", "largest peak MB"], rows, align="lrrr"),
        "", f"- system metrics cost {cpu:+.1f} s of CPU ({100 * cpu / off.median('cpu'):+.1f}%) "
        f"and {wall:+.1f} s of wall time ({100 * wall / off.median('wall'):+.1f}%).",
    ]) + "\n"  # fmt: skip


if __name__ == "__main__":
    main()
