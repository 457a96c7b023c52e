"""What MLflow's system metrics cost a tracked run: `python -m rl_harness algo=ppo env=cartpole`
with `mlflow.system_metrics` on and off, PPO CartPole, evaluation and checkpoints off, each
variant its own process, rounds alternated (bench_overhead's measurement: CPU time of the
process tree, wall time, peak RSS; medians).

    python experiments/bench_system_metrics.py                  # 100k steps, 3 rounds
    python experiments/bench_system_metrics.py --timesteps 20000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.bench_common import provenance  # noqa: E402
from experiments.bench_overhead import harness, rounds  # noqa: E402
from rl_harness.common import tables  # noqa: E402

NO_EVAL = ("eval.freq=0", "checkpoint.freq=0")
VARIANTS = {"system metrics off": "false", "system metrics on": "true"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    header = provenance(
        f"python experiments/bench_system_metrics.py --timesteps {args.timesteps} "
        f"--rounds {args.rounds}"
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
    off, on = (samples["no eval", name] for name in VARIANTS)
    rows = [
        [name, f"{s.median('wall'):.1f}", f"{s.median('cpu'):.1f}", f"{s.median('largest_mb'):.0f}"]
        for name, s in zip(VARIANTS, (off, on), strict=True)
    ]
    print(f"\n{header[:-2]}; load average at end {os.getloadavg()[0]:.1f}._\n")
    print(f"PPO CartPole-v1, {args.timesteps} steps, {args.rounds} rounds alternated, medians\n")
    print(tables.markdown(["variant", "wall s", "CPU s", "largest peak MB"], rows, align="lrrr"))
    cpu = on.median("cpu") - off.median("cpu")
    wall = on.median("wall") - off.median("wall")
    print(
        f"\n- system metrics cost {cpu:+.1f} s of CPU "
        f"({100 * cpu / off.median('cpu'):+.1f}%) and {wall:+.1f} s of wall time "
        f"({100 * wall / off.median('wall'):+.1f}%)."
    )


if __name__ == "__main__":
    main()
