"""The fast suite N times in a row on a loaded machine: a training job runs beside it the whole
time (PPO on CartPole, tracking off, in a loop). Writes the record
experiments/results/soak_fast_suite.json (each run's status, seconds, load average and pytest's
summary line; --out names another) and its page, rendered from it; exits non-zero if any run
failed.

    python -m experiments.checks.soak_fast_suite            # 10 runs (hours on 2 cores)
    python -m experiments.checks.soak_fast_suite --runs 2
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT

RECORD = RESULTS / "soak_fast_suite.json"
LOAD = ["algo=ppo", "env=cartpole", "n_timesteps=200000", "mlflow.enabled=false", "eval.freq=0",
        "checkpoint.freq=0"]  # fmt: skip


def loader(folder: Path) -> subprocess.Popen[bytes]:
    """The training loop beside the suite, in its own process group (stopped as one)."""
    run = shlex.join([sys.executable, "-m", "rl_harness", *LOAD, f"hydra.run.dir={folder}/run"])
    return subprocess.Popen(
        ["bash", "-c", f"while true; do {run} >/dev/null 2>&1; done"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )


def one_run() -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.run(["make", "test"], cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if re.search(r"passed|failed", line)]
    return {
        "green": proc.returncode == 0,
        "seconds": time.perf_counter() - start,
        "load": os.getloadavg()[0],
        "summary": lines[-1].strip("= ") if lines else "",
        "failures": [
            line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))
        ][:5],  # fmt: skip
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=RECORD, help="the record")
    args = ap.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    head = records.header(" ".join(["python -m experiments.checks.soak_fast_suite", *words]))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        load = loader(Path(tmp))
        try:
            for i in range(args.runs):
                runs.append(one_run())
                r = runs[-1]
                print(f"run {i + 1}: {'green' if r['green'] else 'FAILED'} {r['seconds']:.0f} s")
        finally:
            os.killpg(load.pid, signal.SIGTERM)
            load.wait()
    print(records.write({**head, "cpus": os.cpu_count(), "runs": runs}, args.out))
    return 0 if all(r["green"] for r in runs) else 1


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone."""
    lines = [
        f"### Soak: the fast suite {len(data['runs'])} times beside a PPO training loop", "",
        records.provenance_line(data), "", "| run | status | s | load | pytest |",
        "|---:|---|---:|---:|---|",
    ]  # fmt: skip
    for i, r in enumerate(data["runs"], 1):
        status = "green" if r["green"] else "FAILED: " + "; ".join(r["failures"])
        lines.append(f"| {i} | {status} | {r['seconds']:.0f} | {r['load']:.2f} | {r['summary']} |")
    green = sum(r["green"] for r in data["runs"])
    return "\n".join([*lines, "", f"{green} of {len(data['runs'])} runs green."]) + "\n"


if __name__ == "__main__":
    sys.exit(main())
