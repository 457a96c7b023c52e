"""The bad-input matrix, run as a user would: one CLI process per malformed input.

Prints, for each case, the exit code, the seconds until the process failed, and its one line of
error output. The cases are the ones tests/rl_harness/test_cli.py asserts on in-process, plus
those that need a real environment (unreachable store, resume of a missing run or of a corrupt
checkpoint); tests/experiments/test_bad_inputs.py runs every case through the CLI and asserts
the exit code, the one line, its words and the 5-second limit.

    python experiments/bad_inputs.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.rl_harness.test_cli import PREFLIGHT, VALIDATE  # noqa: E402

LIMIT_S = 5.0  # a user learns of a mistake within this, cold start included
CORRUPT = "<a run whose latest checkpoint is corrupt>"


@dataclass(frozen=True)
class Case:
    args: list[str]
    words: list[str]  # the one line must contain each
    env: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        extra = " with " + " ".join(f"{k}={v}" for k, v in self.env) if self.env else ""
        return " ".join(self.args) + extra


@dataclass(frozen=True)
class Outcome:
    returncode: int
    seconds: float
    lines: list[str]  # non-empty lines of stderr


CASES: list[Case] = [Case(args, words) for args, words in PREFLIGHT + VALIDATE] + [
    Case(
        ["n_timesteps=256"],
        ["MLflow tracking store http://127.0.0.1:9 is unreachable", "MLFLOW_TRACKING_URI"],
        (("MLFLOW_TRACKING_URI", "http://127.0.0.1:9"),),
    ),
    Case(["resume=0123456789abcdef"], ["resume=0123456789abcdef: no such MLflow run"]),
    Case([f"resume={CORRUPT}"], ["model.zip is missing or corrupt", "delete"]),
]


def corrupt_run(tmp: Path, env: dict[str, str]) -> str:
    """A short run with a checkpoint, its model file then overwritten, its status reset."""
    from mlflow import MlflowClient

    subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_harness",
            "n_timesteps=512",
            "checkpoint.freq=256",
            "eval.freq=0",
            "progress_bar=false",
            f"hydra.run.dir={tmp}/corrupt",
        ],
        env=env,
        cwd=tmp,
        check=True,
        capture_output=True,
    )
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    run = client.search_runs([client.get_experiment_by_name("CartPole-v1").experiment_id])[0]
    client.update_run(run.info.run_id, status="KILLED")
    for ckpt in (tmp / "corrupt/checkpoints").iterdir():
        (ckpt / "model.zip").write_bytes(b"not a zip")
    return run.info.run_id


def run_case(case: Case, env: dict[str, str], cwd: Path, corrupt_id: str = "") -> Outcome:
    """One fresh CLI process, timed from start to exit."""
    args = [a.replace(CORRUPT, corrupt_id) for a in case.args]
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rl_harness", "n_timesteps=256", *args],
        env={**env, **dict(case.env)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.perf_counter() - start
    return Outcome(out.returncode, took, [ln for ln in out.stderr.splitlines() if ln.strip()])


def cli_env(store: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PYTHONPATH": str(ROOT)}


def main() -> None:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        env = cli_env(tmp / "mlflow.db")
        corrupt_id = corrupt_run(tmp, env)
        print(f"| # | input | exit | seconds (limit {LIMIT_S:g}) | message |")
        print("|---|---|---|---|---|")
        for i, case in enumerate(CASES, 1):
            out = run_case(case, env, tmp, corrupt_id)
            message = out.lines[-1] if out.lines else "(no output)"
            one = "" if len(out.lines) == 1 else f" [{len(out.lines)} lines]"
            print(
                f"| {i} | `{case.name}` | {out.returncode} | {out.seconds:.1f} | "
                f"{message[:160]}{one} |"
            )


if __name__ == "__main__":
    main()
