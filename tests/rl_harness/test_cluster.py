"""The local cluster (`make cluster-up`): PostgreSQL and an MLflow server on loopback, and a
training run that shares nothing with its resume but the two URLs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rl_harness import cluster
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def harness(cwd: Path, uri: str, *args: str) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    home = cwd / "home"  # its own HOME and temp dir: nothing shared with another "machine"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HOME": str(home), "TMPDIR": str(home)}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "rl_harness", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_run_killed_on_one_machine_resumes_on_another_from_the_server(
    local_cluster: cluster.Cluster, tmp_path: Path
) -> None:
    uri = local_cluster.tracking_uri
    client = MlflowClient(uri)
    first = harness(
        tmp_path / "machine-a",
        uri,
        *("algo=ppo", "env=cartpole", "n_envs=1", "algo.n_steps=128", "n_timesteps=3000"),
        *("checkpoint.freq=500", "eval.freq=1000", "eval.episodes=2", "progress_bar=false"),
    )

    def uploaded() -> tuple[str, list[str]] | None:
        if first.poll() is not None:
            pytest.fail(f"training ended early: {first.stderr.read() if first.stderr else ''}")
        found = client.search_runs([e.experiment_id for e in client.search_experiments()])
        for run in found:  # checkpoint.upload=auto: on, since the store is a server
            stored = [f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")]
            if len(stored) >= 2:
                return run.info.run_id, stored
        return None

    try:
        run_id, _ = wait_for(uploaded, "two checkpoints uploaded to the server", 180)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole machine: trainer and its helper
        first.wait()
    shutil.rmtree(tmp_path / "machine-a")

    # the helper died with the machine: the run stays RUNNING until its heartbeat is stale;
    # another machine would wait for that, the test marks it as that machine would
    client.set_terminated(run_id, "FAILED")
    second = harness(tmp_path / "machine-b", uri, f"resume={run_id}")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    assert out.splitlines()[-1].startswith(f"run {run_id} | eval ")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["resume/from_step"] >= 500
    assert "mlflow-artifacts:" in run.info.artifact_uri  # artifacts over HTTP, not a path
    model = [f.path for f in client.list_artifacts(run_id, "model")]
    assert "model/model.zip" in model
