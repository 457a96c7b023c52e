"""The bad-input matrix, run as a user would: one CLI process per malformed input.

Prints, for each case, the exit code, the seconds until the process failed, and its one line of
error output. The cases are the ones tests/rl_harness/test_cli.py asserts on, plus those that
need a real environment (unreachable store, unwritable dir, resume of a missing run or of a
corrupt checkpoint).

    python experiments/bad_inputs.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.rl_harness.test_cli import PREFLIGHT, VALIDATE  # noqa: E402


def corrupt_run(tmp: Path, env: dict[str, str]) -> str:
    """A short run with a checkpoint, its model file then overwritten, its status reset."""
    from mlflow import MlflowClient

    subprocess.run([sys.executable, "-m", "rl_harness", "n_timesteps=512", "checkpoint.freq=256",
                    "eval.freq=0", "progress_bar=false", f"hydra.run.dir={tmp}/corrupt"],
                   env=env, cwd=tmp, check=True, capture_output=True)
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    run = client.search_runs([client.get_experiment_by_name("CartPole-v1").experiment_id])[0]
    client.update_run(run.info.run_id, status="KILLED")
    for ckpt in (tmp / "corrupt/checkpoints").iterdir():
        (ckpt / "model.zip").write_bytes(b"not a zip")
    return run.info.run_id


def main() -> None:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
               "PYTHONPATH": str(ROOT)}
        cases: list[tuple[list[str], dict[str, str]]] = [
            (args, {}) for args, _ in PREFLIGHT + VALIDATE]
        cases += [
            (["n_timesteps=256"], {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}),
            (["hydra.run.dir=/proc/no/such/dir"], {}),
            (["resume=0123456789abcdef"], {}),
            ([f"resume={corrupt_run(tmp, env)}"], {}),
        ]
        print("| # | input | exit | seconds | message |")
        print("|---|---|---|---|---|")
        for i, (args, extra) in enumerate(cases, 1):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "rl_harness", "n_timesteps=256", *args],
                                 env={**env, **extra}, cwd=tmp, capture_output=True, text=True)
            took = time.perf_counter() - start
            lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
            shown = " ".join(args) + (" with " + " ".join(f"{k}={v}" for k, v in extra.items())
                                      if extra else "")
            message = lines[-1] if lines else "(no output)"
            one = "" if len(lines) == 1 else f" [{len(lines)} lines]"
            print(f"| {i} | `{shown}` | {out.returncode} | {took:.1f} | {message[:160]}{one} |")


if __name__ == "__main__":
    main()
