"""Which runs resume exactly: each case trained without a stop, then again 'killed' between two
checkpoints (nothing after the last checkpoint saved, as under SIGKILL) and resumed, and the two
compared — final weights (`torch.equal` on every tensor), every metric at every step (timing and
system metrics aside), the closing evaluation.

    python -m experiments.checks.resume_exactness            # every case: ~5 min on 2 cores
    python -m experiments.checks.resume_exactness --render   # the Markdown again, from the record

Writes experiments/results/resume_exactness.json (the record) and .md (rendered from it).
tests/experiments/checks/test_resume_exactness.py runs the same cases and checks the published
verdicts against them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from stable_baselines3.common.callbacks import BaseCallback

from experiments.lib import records
from experiments.lib.common import ROOT

RECORD = ROOT / "experiments" / "results" / "resume_exactness.json"
COMMAND = "python -m experiments.checks.resume_exactness"
SHORT = ["eval.episodes=2", "eval.final.episodes=5", "eval.final.precision=0"]


@dataclass(frozen=True)
class Case:
    overrides: list[str]
    stop_at: int  # the 'kill' lands at the first step at or after this, between checkpoints
    expected_exact: bool
    why_not: str = ""  # where not exact: what the run says
    drop_state: bool = False  # resume from a checkpoint written before exact resume
    from_store: bool = False  # resume on 'another machine': the run's directory deleted


CASES: dict[str, Case] = {
    "ppo-cartpole": Case(
        ["algo=ppo", "env=cartpole", "n_envs=2", "n_timesteps=3000", "algo.n_steps=128",
         "algo.batch_size=64", "algo.n_epochs=2", "eval.freq=500", "checkpoint.freq=1000",
         *SHORT], 1700, True),
    "ppo-cartpole-vecnormalize": Case(
        ["algo=ppo", "env=cartpole", "env.normalize=true", "n_envs=2", "n_timesteps=2000",
         "algo.n_steps=128", "algo.batch_size=64", "algo.n_epochs=2", "eval.freq=500",
         "checkpoint.freq=600", *SHORT], 1500, True),
    "a2c-cartpole": Case(
        ["algo=a2c", "env=cartpole", "n_envs=2", "n_timesteps=2000", "eval.freq=500",
         "checkpoint.freq=600", *SHORT], 1500, True),
    "dqn-cartpole": Case(
        ["algo=dqn", "env=cartpole", "n_timesteps=3000", "algo.learning_starts=500",
         "algo.train_freq=16", "algo.gradient_steps=4", "algo.target_update_interval=200",
         "eval.freq=700", "checkpoint.freq=1000", *SHORT], 2500, True),
    "sac-pendulum": Case(
        ["algo=sac", "env=pendulum", "n_timesteps=900", "algo.learning_starts=200",
         "eval.freq=300", "checkpoint.freq=400", *SHORT], 700, True),
    "td3-pendulum-ou-noise": Case(
        ["algo=td3", "env=pendulum", "n_timesteps=900", "algo.learning_starts=200",
         "eval.freq=300", "checkpoint.freq=400",
         "algo.action_noise={type: ornstein_uhlenbeck, sigma: 0.2}", *SHORT], 700, True),
    "qlearning-custom": Case(
        ["algo=qlearning", "env=custom", "n_envs=8", "n_timesteps=30000", "eval.freq=8000",
         "checkpoint.freq=10000", *SHORT], 25000, True),
    "ppo-custom-vecnormalize": Case(
        ["algo=ppo", "env=custom", "n_envs=4", "n_timesteps=6000", "algo.n_steps=256",
         "eval.freq=2000", "checkpoint.freq=2000", *SHORT], 5000, True),
    "dqn-custom-vecnormalize": Case(
        ["algo=dqn", "env=custom", "n_envs=4", "n_timesteps=4000", "algo.learning_starts=500",
         "eval.freq=1000", "checkpoint.freq=1500", *SHORT], 3500, True),
    "sac-custom_continuous-vecnormalize": Case(
        ["algo=sac", "env=custom_continuous", "n_envs=2", "n_timesteps=1200",
         "algo.learning_starts=300", "eval.freq=400", "checkpoint.freq=500", *SHORT], 1100,
        True),
    "ppo-cartpole-from-tracking-store": Case(
        ["algo=ppo", "env=cartpole", "n_envs=2", "n_timesteps=2000", "algo.n_steps=128",
         "algo.batch_size=64", "algo.n_epochs=2", "eval.freq=500", "checkpoint.freq=600",
         "checkpoint.upload=true", *SHORT], 1500, True, from_store=True),
    "ppo-cartpole-subproc": Case(
        ["algo=ppo", "env=cartpole", "n_envs=2", "vec_env=subproc", "n_timesteps=2000",
         "algo.n_steps=128", "algo.batch_size=64", "algo.n_epochs=2", "eval.freq=500",
         "checkpoint.freq=600", *SHORT], 1500, False,
        "the training env runs in subprocesses (vec_env=subproc): its envs are not saved"),
    "ppo-cartpole-old-checkpoint": Case(
        ["algo=ppo", "env=cartpole", "n_envs=2", "n_timesteps=2000", "algo.n_steps=128",
         "algo.batch_size=64", "algo.n_epochs=2", "eval.freq=500", "checkpoint.freq=600",
         *SHORT], 1500, False,
        "its checkpoint was written before exact resume (no training state)", drop_state=True),
    "ppo-inverted_pendulum-mujoco": Case(
        ["algo=ppo", "env=inverted_pendulum", "n_envs=2", "n_timesteps=2000",
         "algo.n_steps=128", "algo.batch_size=64", "algo.n_epochs=2", "eval.freq=500",
         "checkpoint.freq=600", *SHORT], 1500, False,
        "(gymnasium.envs.mujoco.inverted_pendulum_v5) pickles without all of its simulator's "
        "state"),
    "ppo-pong-atari": Case(
        ["algo=ppo", "env=pong", "n_envs=2", "n_timesteps=768", "algo.n_steps=64",
         "algo.batch_size=64", "algo.n_epochs=1", "eval.freq=256", "eval.episodes=1",
         "checkpoint.freq=256", "eval.final.episodes=1", "eval.final.precision=0",
         "+env.kwargs.max_episode_steps=200"], 600, False,
        "(ale_py.env) pickles without all of its simulator's state"),
}  # fmt: skip


class Crash(RuntimeError):
    """The process 'dies' here: nothing after the last checkpoint is saved."""


class CrashAt(BaseCallback):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self.step:
            raise Crash(f"crash at step {self.model.num_timesteps}")
        return True


@dataclass
class Verdict:
    case: str
    stopped_at: int
    checkpoint: int
    resume_exact_tag: str
    resume_inexact: str = ""
    weights: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    final: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.weights or self.history or self.final)


def without_state(model_zip: Path) -> None:
    """The model file as a checkpoint written before exact resume had it: the state left out."""
    from rl_harness.training.checkpoints import STATE_FILE

    with zipfile.ZipFile(model_zip) as archive:
        entries = {n: archive.read(n) for n in archive.namelist() if n != STATE_FILE}
    with zipfile.ZipFile(model_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def stop_and_resume(name: str, case: Case, workdir: Path) -> Verdict:
    """The case trained through, then crashed at `stop_at` and resumed; the two compared. Runs
    in the current MLflow store (MLFLOW_TRACKING_URI)."""
    from rl_harness.analysis import sameness
    from rl_harness.tracking import runs as tracking
    from rl_harness.training import checkpoints, train

    whole = train.run(quiet(case.overrides), out_dir=workdir / "whole")
    real = train.make_callbacks

    def crashing(*args: Any, **kwargs: Any) -> list:
        return [*real(*args, **kwargs), CrashAt(case.stop_at)]

    stopped_dir = workdir / "stopped"
    with mock.patch.object(train, "make_callbacks", crashing):
        try:
            train.run(quiet(case.overrides), out_dir=stopped_dir)
        except Crash:
            pass
        else:
            raise AssertionError(f"{name}: training ended before step {case.stop_at}")
    last = checkpoints.latest(stopped_dir / "checkpoints")
    if last is None:
        raise AssertionError(f"{name}: no checkpoint before step {case.stop_at}")
    if case.from_store:  # another machine: only the store's checkpoint is left
        shutil.rmtree(stopped_dir)
    if case.drop_state:
        for checkpoint in checkpoints.all_checkpoints(stopped_dir / "checkpoints"):
            without_state(checkpoint / "model.zip")
    client = tracking.client()
    crashed = tracking.unfinished_runs(train.experiment_name(quiet(case.overrides)), {})
    run_id = next(r for r in crashed if r != whole["run_id"])
    resumed = train.run(quiet([f"resume={run_id}"]))
    first, second = client.get_run(whole["run_id"]), client.get_run(resumed["run_id"])
    return Verdict(
        case=name,
        stopped_at=case.stop_at,
        checkpoint=int(last.name.removeprefix(checkpoints.PREFIX)),
        resume_exact_tag=second.data.tags.get("resume.exact", ""),
        resume_inexact=second.data.tags.get("resume.inexact", ""),
        weights=sameness.weight_differences(Path(whole["model_path"]), Path(resumed["model_path"])),
        history=sameness.history_differences(
            sameness.metric_history(client, whole["run_id"]),
            sameness.metric_history(client, resumed["run_id"]),
        ),
        final=sameness.final_differences(first.data.metrics, second.data.metrics),
    )


def quiet(overrides: list[str]) -> Any:
    """The config the CLI would train (bench_common.compose_cfg), without a progress bar."""
    from experiments.lib.common import compose_cfg

    return compose_cfg([*overrides, "progress_bar=false"])


def run_all(names: list[str]) -> list[Verdict]:
    """Each case in a scratch directory with a store of its own."""
    verdicts = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"exact-{name}-") as tmp:
            workdir = Path(tmp)
            previous = os.environ.get("MLFLOW_TRACKING_URI")
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
            cwd = Path.cwd()
            os.chdir(workdir)
            try:
                verdicts.append(stop_and_resume(name, CASES[name], workdir))
            finally:
                os.chdir(cwd)
                if previous is None:
                    os.environ.pop("MLFLOW_TRACKING_URI", None)
                else:
                    os.environ["MLFLOW_TRACKING_URI"] = previous
            print(f"{name}: exact={verdicts[-1].exact}", file=sys.stderr)
    return verdicts


def record(verdicts: list[Verdict]) -> dict:
    """The verdicts with what produced them: the command, the code, the versions, the machine."""
    import torch

    from rl_harness.common import provenance

    facts = provenance.facts(torch.get_num_threads())
    return {
        "command": COMMAND,
        "commit": facts.get(provenance.COMMIT_TAG),
        "dirty": facts.get(provenance.DIRTY_TAG),
        "machine": f"{facts.get('cpu')}, {os.cpu_count()} cores, {facts.get('platform')}",
        "versions": {
            k.removeprefix("version."): v for k, v in facts.items() if k.startswith("version.")
        },  # fmt: skip
        "rows": [
            {
                **asdict(v),
                "exact": v.exact,
                "overrides": CASES[v.case].overrides,
                "drop_state": CASES[v.case].drop_state,
                "from_store": CASES[v.case].from_store,
            }
            for v in verdicts
        ],
    }


def render(data: dict) -> str:
    """The Markdown table, from the record alone."""
    lines = [
        "# Exact resume: which runs end where the uninterrupted run ends",
        "",
        f"_Generated by `{data['command']}` at commit {data['commit']} on {data['machine']}; "
        + ", ".join(f"{k} {v}" for k, v in data["versions"].items())
        + "._",
        "",
        "Each case: trained without a stop; again, killed between two checkpoints and resumed "
        "(`resume=<run id>`). Exact: final weights equal (`torch.equal`, every tensor), every "
        "metric equal at every step (timing and system metrics aside), closing evaluation "
        "equal.",
        "",
        "| case | killed at | resumed from | exact | resume.exact tag | where it differs |",
        "|---|---:|---:|---|---|---|",
    ]
    for row in data["rows"]:
        diffs = [*row["weights"][:1], *row["history"][:1], *row["final"][:1]]
        where = "; ".join(d.replace("|", "/") for d in diffs) or "—"
        lines.append(
            f"| {row['case']} | {row['stopped_at']:,} | {row['checkpoint']:,} | "
            f"{'yes' if row['exact'] else 'no'} | {row['resume_exact_tag']} | {where} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--render", action="store_true", help="only re-render the Markdown")
    parser.add_argument("--out", type=Path, default=RECORD, help="the JSON record to write")
    args = parser.parse_args(argv)
    data = records.load(args.out) if args.render else record(run_all(args.cases))
    records.write(data, args.out)
    print(args.out.with_suffix(".md"))


if __name__ == "__main__":
    main()
