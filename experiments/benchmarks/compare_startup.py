"""What `python -m rl_harness.compare` costs to start and run on a tiny store: wall and CPU time
(user + system of the process and its children), the median of `--repeats` runs.

    python -m experiments.benchmarks.compare_startup [--repeats 5] [--runs 3] [--dir DIR]

A scratch SQLite store (in DIR, default a temporary directory that is removed afterwards) gets
2 algorithms × `--runs` fake training runs, each with a final metric, an optimum and a short
learning curve; then the command compares them with tracking off, writing its files under DIR:

    python -m rl_harness.compare experiment=bench mlflow.enabled=false hydra.run.dir=DIR/out-<i>

Nothing outside DIR is written. What it measures is mostly imports: compare reads MLflow and
draws two figures, and loads neither torch nor SB3 (tests/test_layers.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMAND = ["-m", "rl_harness.compare", "experiment=bench", "mlflow.enabled=false"]


def fill_store(runs: int) -> None:
    """2 algorithms × `runs` finished training runs, as train.run records what compare reads."""
    from rl_harness.tracking import runs as tracking

    for algo, base in (("ppo", 100.0), ("dqn", 60.0)):
        for i in range(runs):
            final = base + 10 * i
            tags = {"algo": algo, "env": "Inventory-v0"}
            with tracking.mlflow_run("bench", tags=tags) as rec:
                for step in (1000, 2000, 3000):
                    rec.log_metrics({"eval/mean_reward": final * step / 3000}, step=step)
                rec.log_metrics({"final/mean_reward": final}, step=3000)
                rec.log_metrics({"optimum": 400.0}, step=0)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s: user + system of the child and everything it waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"compare failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3, help="training runs per algorithm")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_compare_") as tmp:
        scratch = args.dir or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}"}
        os.environ.update(env)
        fill_store(args.runs)
        samples = [
            timed([sys.executable, *COMMAND, f"hydra.run.dir={scratch / f'out-{i}'}"], env)
            for i in range(args.repeats)
        ]
    walls, cpus = zip(*samples, strict=True)
    print(f"command: python {' '.join(COMMAND)} hydra.run.dir=<scratch>/out-<i>")
    print(f"store: 2 algos x {args.runs} training runs; {args.repeats} timed commands")
    for what, values in (("wall s:", walls), ("CPU s: ", cpus)):
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{what} median {statistics.median(values):.2f} (runs {each})")


if __name__ == "__main__":
    main()
