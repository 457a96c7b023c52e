"""Finding runs: `python -m rl_harness.runs` and `api.runs`, newest first, with filters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rl_harness import api
from rl_harness.analysis import run_list
from rl_harness.common import stats
from rl_harness.config import commands
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking

ROOT = Path(__file__).resolve().parents[3]
RETURNS = [380.0, 390.0, 400.0, 410.0]


def training_run(experiment: str, algo: str, env: str, optimum: float | None = None, **tags: str):
    """What train.run records that the list reads: tags and the final/* metrics."""
    mean, std = stats.mean_std(RETURNS)
    ci = stats.ci95(RETURNS)
    with tracking.mlflow_run(experiment, tags={"algo": algo, "env": env, **tags}) as rec:
        final = {"final/mean_reward": mean, "final/std_reward": std, "final/ci95": ci}
        final["final/episodes"] = len(RETURNS)
        if optimum is not None:
            final |= {"final/optimality": mean / optimum, "final/optimality_ci95": ci / optimum}
            rec.log_metrics({"optimum": optimum}, step=0)
        rec.log_metrics(final, step=100)
        return rec.run_id


def failed_run(experiment: str, algo: str, env: str) -> str:
    with (
        pytest.raises(RuntimeError),
        tracking.mlflow_run(experiment, tags={"algo": algo, "env": env}) as rec,
    ):  # noqa: E501
        run_id = rec.run_id
        raise RuntimeError("diverged")
    return run_id


@pytest.fixture
def store() -> dict[str, str]:
    """Five runs, oldest first: two experiments, three algorithms, a group tag, a failure."""
    return {
        "ppo": training_run("exp", "ppo", "envs:Inv-v0", optimum=500.0, group="baseline"),
        "a2c": training_run("exp", "a2c", "envs:Inv-v0"),
        "other-env": training_run("exp", "ppo", "MyInv-v0"),
        "dqn": training_run("other", "dqn", "CartPole-v1", group="baseline"),
        "failed": failed_run("exp", "ppo", "envs:Inv-v0"),
    }


def listed(*argv: str) -> list[str]:
    return [row["run_id"] for row in run_list.find(commands.load("runs", list(argv)))]


def test_runs_are_listed_newest_first_and_filtered(store: dict[str, str]) -> None:
    newest_first = [store[k] for k in ("failed", "dqn", "other-env", "a2c", "ppo")]
    assert listed() == newest_first
    assert listed("limit=2") == newest_first[:2]
    assert listed("experiment=other") == [store["dqn"]]
    assert listed("algos=ppo") == [store["failed"], store["other-env"], store["ppo"]]
    assert listed("algos=[a2c,dqn]", "limit=1") == [store["dqn"]]
    # `Inv-v0` is the id without its module: envs:Inv-v0 matches, MyInv-v0 does not
    assert listed("env_id=Inv-v0") == [store["failed"], store["a2c"], store["ppo"]]
    assert listed("env_id=Inv-v0", "limit=2") == [store["failed"], store["a2c"]]
    assert listed("env_id=envs:Inv-v0", "algos=a2c") == [store["a2c"]]
    assert listed("tag=group=baseline") == [store["dqn"], store["ppo"]]
    assert listed("status=FAILED") == [store["failed"]]
    assert listed("status=FINISHED", "experiment=exp", "limit=1") == [store["other-env"]]


def test_a_row_carries_the_result_as_every_command_prints_it(store: dict[str, str]) -> None:
    rows = {r["run_id"]: r for r in run_list.find(commands.load("runs", []))}
    ppo, failed = rows[store["ppo"]], rows[store["failed"]]
    assert ppo["status"] == "FINISHED" and failed["status"] == "FAILED"
    assert ppo["experiment"] == "exp" and ppo["algo"] == "ppo" and ppo["episodes"] == 4
    assert ppo["optimality"] == pytest.approx(395.0 / 500.0)
    assert run_list.result(ppo) == stats.evaluation(RETURNS, optimum=500.0)
    assert "(79.0% ± " in run_list.result(ppo)
    assert run_list.result(rows[store["a2c"]]) == stats.evaluation(RETURNS)
    assert run_list.result(failed) == "—" and failed["mean_reward"] is None


def test_unknown_experiment_is_named_with_the_ones_there(store: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"no experiment 'exq' \(did you mean 'exp'\?\)"):
        listed("experiment=exq")


def test_python_api_lists_the_same_runs(store: dict[str, str]) -> None:
    rows = api.runs(algos=["ppo"], env_id="Inv-v0", status="FINISHED")
    assert [r["run_id"] for r in rows] == [store["ppo"]]
    assert rows[0]["ci95"] == pytest.approx(stats.ci95(RETURNS))
    assert [r["run_id"] for r in api.runs(tag="group=baseline", limit=1)] == [store["dqn"]]
    with pytest.raises(ConfigError, match="status must be one of RUNNING"):
        api.runs(status="done")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rl_harness.runs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_command_prints_one_line_per_run(store: dict[str, str]) -> None:
    proc = cli("algos=ppo", "limit=2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "run id" in lines[0] and len([x for x in lines if "FAILED" in x or "FINISHED" in x]) == 2
    failed, finished = next(x for x in lines if store["failed"] in x), lines[-1]
    assert "FAILED" in failed and failed.rstrip().endswith("—")
    assert store["other-env"] in finished and stats.evaluation(RETURNS) in finished
    assert "no runs match status=KILLED in sqlite" in cli("status=KILLED").stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["status=done"], "status must be one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED"),
        (["tag=group"], "tag must be name=value, e.g. tag=group=baseline, got 'group'"),
        (["limit=0"], "limit must be a positive integer, got 0"),
        (["algos=[1]"], "algos must be a name or a list of names"),
        (["experiment=nope"], "no experiment 'nope'"),
    ],
)
def test_bad_filters_are_one_line_exit_2(args: list[str], words: str) -> None:
    proc = cli(*args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("rl_harness.runs: error: ") and words in lines[0]
