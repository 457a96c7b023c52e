"""The bad-input matrix, run as a user would: one CLI process per malformed input.

This module owns the matrix. Prints, for each case, the exit code, the seconds until the process
failed (against the LIMIT_S target: timings belong here, not in the tests), and its one line of
error output. tests/experiments/checks/test_bad_inputs.py asserts on every case, in-process
(PREFLIGHT, VALIDATE) and through the CLI (CASES: those plus the ones that need a real environment:
unreachable store, resume of a missing run or of a corrupt checkpoint, rerun of a missing run):
the exit code, the one line and its words.

    python -m experiments.checks.bad_inputs
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from experiments.lib.common import ROOT

Expected = list[tuple[list[str], list[str]]]  # (override, words the one line must contain)

# Rejected by the pre-flight check, before Hydra composes anything.
PREFLIGHT: Expected = [
    (["algo=foo"], ["unknown algo 'foo'", "ppo", "sac"]),
    (["env=cartpol"], ["unknown env 'cartpol'", "did you mean 'cartpole'"]),
    (["-m", "algo=ppo,dqm"], ["unknown algo 'dqm'"]),
    (["n_timestep=5"], ["unknown config key 'n_timestep'", "n_timesteps"]),
    (["eval.frek=3"], ["unknown config key 'eval.frek'", "freq"]),
    (["algo.learning_rate=[1,"], ["cannot parse override"]),
    (["hydra.run.dir=/proc/no/such/dir"], ["output directory /proc/no/such/dir cannot be created"]),
]

# Rejected after composition by train.validate / build, before any env or model exists.
VALIDATE: Expected = [
    (["algo.learning_rat=1e-3"], ["unknown hyperparameter algo.learning_rat", "learning_rate"]),
    (["n_timesteps=0"], ["n_timesteps must be a positive integer"]),
    (["n_timesteps=-5"], ["n_timesteps must be a positive integer"]),
    (["n_timesteps=abc"], ["n_timesteps must be a positive integer"]),
    (["n_envs=0"], ["n_envs must be a positive integer"]),
    (["torch_threads=0"], ["torch_threads must be a positive integer"]),
    (["seed=20000"], ["seed must be an integer in [0, ", "evaluation seeds start at 10000"]),
    (["seed=-1"], ["seed must be an integer in [0, ", "got -1"]),
    (["eval.final.episodes=0"], ["eval.final.episodes must be a positive integer"]),
    (["eval.final.precision=-0.1"], ["eval.final.precision must be a number ≥ 0"]),
    (
        ["eval.final.episodes=50", "eval.final.max_episodes=10"],
        ["eval.final.max_episodes (10) must be ≥ eval.final.episodes (50)"],
    ),
    (["mlflow.system_metrics=maybe"], ["mlflow.system_metrics must be true or false"]),
    (["eval.freq=-1"], ["eval.freq must be an integer"]),
    (["checkpoint.keep=-1"], ["checkpoint.keep must be an integer ≥ 0", "keeps all"]),
    (["vec_env=threads"], ["vec_env must be one of dummy, sb3_dummy, subproc, got 'threads'"]),
    (["checkpoint.upload=maybe"], ["checkpoint.upload must be one of true, false, auto"]),
    (["env.id=Nope-v0"], ["env.id 'Nope-v0' is not a registered Gymnasium id"]),
    (["env.id=nomodule:Nope-v0"], ["env.id 'nomodule:Nope-v0'", "nomodule"]),
    (["algo.learning_rate=fast"], ["algo.learning_rate must be a number or a schedule"]),
    (["algo.learning_rate={schedule: cosine, start: 1}"], ["unknown schedule 'cosine'"]),
    (["env=acrobot", "algo.learning_rate={schedule: linear}"], ["linear schedule takes start"]),
    (["algo.n_steps=abc"], ["algo.n_steps must be an integer"]),
    (["algo.normalize_advantage=3"], ["algo.normalize_advantage must be true or false"]),
    (["algo.policy_kwargs={activation_fn: swish}"], ["activation_fn 'swish' is unknown", "tanh"]),
    (["algo.policy_kwargs={optimizer_class: Lion}"], ["optimizer_class 'Lion'", "Adam"]),
    (["algo.seed=3"], ["algo.seed is set by the harness", "seed="]),
    (["algo=dqn", "env=pendulum"], ["algo=dqn cannot train on env Pendulum-v1", "Discrete"]),
    (["algo=sac", "env=cartpole"], ["algo=sac cannot train on env CartPole-v1", "Box"]),
    (
        ["algo=td3", "env=pendulum", "algo.action_noise={type: pink}"],
        ["action_noise.type 'pink'", "normal"],
    ),
    (["env.kwargs.foo=1"], ["cannot build CartPole-v1", "foo"]),
    (["env.wrappers=[{foo: 1}]"], ["env.wrappers entries need a _target_"]),
]

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
    stdout: str


CASES: list[Case] = [Case(args, words) for args, words in PREFLIGHT + VALIDATE] + [
    Case(
        ["n_timesteps=256"],
        ["MLflow tracking store http://127.0.0.1:9 is unreachable", "MLFLOW_TRACKING_URI"],
        (("MLFLOW_TRACKING_URI", "http://127.0.0.1:9"),),
    ),
    Case(["resume=0123456789abcdef"], ["resume=0123456789abcdef: no such MLflow run"]),
    Case(["rerun=0123456789abcdef"], ["rerun=0123456789abcdef: no such MLflow run"]),
    Case([f"resume={CORRUPT}"], ["model.zip is missing or corrupt", "delete"]),
]


def corrupt_run(tmp: Path, env: dict[str, str]) -> str:
    """A short run with a checkpoint, its model file then overwritten, its status reset."""
    from rl_harness.tracking import runs as tracking

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
    client = tracking.client_for(env["MLFLOW_TRACKING_URI"])
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
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    return Outcome(out.returncode, took, lines, out.stdout)


def cli_env(store: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PYTHONPATH": str(ROOT)}


def main() -> None:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        env = cli_env(tmp / "mlflow.db")
        corrupt_id = corrupt_run(tmp, env)
        print(f"| # | input | exit | seconds (target < {LIMIT_S:g}) | message |")
        print("|---|---|---|---|---|")
        slow = []
        for i, case in enumerate(CASES, 1):
            out = run_case(case, env, tmp, corrupt_id)
            if out.seconds >= LIMIT_S:
                slow.append(case.name)
            message = out.lines[-1] if out.lines else "(no output)"
            one = "" if len(out.lines) == 1 else f" [{len(out.lines)} lines]"
            print(
                f"| {i} | `{case.name}` | {out.returncode} | {out.seconds:.1f} | "
                f"{message[:160]}{one} |"
            )
        within = len(CASES) - len(slow)
        print(f"\n{within} of {len(CASES)} inputs failed within {LIMIT_S:g} s", end="")
        print(f"; over: {', '.join(slow)}" if slow else "")


if __name__ == "__main__":
    main()
