"""A machine's other workers: the same command with `hydra.sweeper.worker=<k>
hydra.sweeper.spawned=true`, started by its first process and waited for (or stopped) at its end.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rl_harness.tuning.space import hydra_value

# Hydra overrides a spawned worker gets anew: the ones of the command that started it are dropped.
OWN_KEYS = (
    "hydra.sweeper.worker=",
    "hydra.sweeper.spawned=",
    "hydra.sweeper.storage=",
    "hydra.sweep.dir=",
    "hydra.mode=",
)


def start(
    arguments: Sequence[str],
    hydra_args: Sequence[str],
    first: int,
    n: int,
    url: str,
    sweep_dir: Path,
) -> list[subprocess.Popen]:
    """Workers `first + 1` .. `first + n - 1`, each logging to `<sweep dir>/worker-<k>.log`."""
    kept = [a for a in hydra_args if not a.startswith(OWN_KEYS)]
    workers = []
    for k in range(first + 1, first + n):
        log = sweep_dir / f"worker-{k}.log"
        cmd = [
            sys.executable,
            "-m",
            "rl_harness",
            "-m",
            *arguments,
            *kept,
            f"hydra.sweeper.worker={k}",
            "hydra.sweeper.spawned=true",
            f"hydra.sweeper.storage={hydra_value(url)}",
            f"hydra.sweep.dir={hydra_value(str(sweep_dir))}",
        ]
        with open(log, "a") as out:
            workers.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))
        print(f"worker {k}: pid {workers[-1].pid}, log {log}")
    return workers


def stop(workers: list[subprocess.Popen], first: int, sweep_dir: Path) -> None:
    """Wait for the workers; while an exception unwinds (Ctrl-C), stop them first."""
    stopping = sys.exc_info()[0] is not None
    for w in workers:
        if stopping and w.poll() is None:
            w.send_signal(signal.SIGINT)
    for k, w in enumerate(workers, first + 1):
        try:
            rc = w.wait(timeout=120 if stopping else None)
        except subprocess.TimeoutExpired:
            w.kill()
            rc = w.wait()
        if rc not in (0, 130, -signal.SIGINT):
            print(f"worker {k} exited with {rc}; see {sweep_dir}/worker-{k}.log", file=sys.stderr)
