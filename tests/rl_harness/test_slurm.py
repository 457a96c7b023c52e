"""Sweep workers as a SLURM job array, against a real single-node SLURM (`.ci/slurm.sh` starts
one) and the local cluster: the workers share nothing but the two URLs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from rl_harness import cluster
from rl_harness.tracking.store import OUT_DIR_TAG
from tests.rl_harness.tuning.test_sweep import TINY
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def slurm_or_skip() -> None:
    """A SLURM node that takes jobs; CI (RL_HARNESS_REQUIRE_SLURM) fails instead of skipping."""
    up = shutil.which("sinfo") and subprocess.run(
        ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True
    ).stdout.strip() in ("idle", "mix", "alloc")
    if not up:
        if os.environ.get("RL_HARNESS_REQUIRE_SLURM"):
            pytest.fail("no SLURM node up: bash .ci/slurm.sh starts one")
        pytest.skip("no SLURM node up (bash .ci/slurm.sh starts one, as root)")


def worker_env(local_cluster: cluster.Cluster) -> dict[str, str]:
    """What a worker gets: the two URLs, nothing else of ours."""
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": local_cluster.tracking_uri,
        "RL_HARNESS_OPTUNA_STORAGE": local_cluster.storage_url,
        "PYTHONPATH": str(ROOT),
    }


def left_queue(job: str) -> bool:
    """The job (every task of an array) has left SLURM's queue: done, failed or cancelled."""
    queue = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True)
    return queue.stdout.strip() == ""


def submit_workers(
    local_cluster: cluster.Cluster,
    cwd: Path,
    n: int,
    study: str,
    overrides: list[str],
    n_trials: int,
) -> str:
    """`python -m rl_harness.cluster workers n ...` as a user types it; the job array's id."""
    submit = [sys.executable, "-m", "rl_harness.cluster", "workers", str(n), *overrides]
    submit += [f"hydra.sweeper.study_name={study}", f"hydra.sweeper.n_trials={n_trials}"]
    env = worker_env(local_cluster)
    done = subprocess.run(submit, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("job array ")[1].split()[0]


def test_a_job_array_of_workers_runs_one_study(
    local_cluster: cluster.Cluster, tmp_path: Path
) -> None:
    slurm_or_skip()
    study = "slurm-array"
    job = submit_workers(local_cluster, tmp_path, 2, study, TINY, n_trials=4)

    wait_for(lambda: left_queue(job), f"SLURM job array {job} to finish", 600)
    logs = tmp_path / "sweeps" / study / "slurm"
    texts = {p.name: p.read_text() for p in sorted(logs.glob("worker-*.log"))}
    assert sorted(texts) == ["worker-0.log", "worker-1.log"], texts
    loaded = optuna.load_study(study_name=study, storage=local_cluster.storage_url)
    complete = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4, "\n".join(texts.values())[-3000:]
    for name, text in texts.items():  # both tasks joined the study, neither crashed
        assert "Traceback" not in text and study in text, f"{name}:\n{text[-3000:]}"
    client = MlflowClient(local_cluster.tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.info.run_name == f"sweep {study}"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(r.info.run_name for r in children) == [f"trial-{i}" for i in range(4)]


def test_a_seed_grid_runs_as_slurm_jobs_through_submitit(
    local_cluster: cluster.Cluster, tmp_path: Path
) -> None:
    slurm_or_skip()
    env = {**os.environ, "MLFLOW_TRACKING_URI": local_cluster.tracking_uri, "PYTHONPATH": str(ROOT)}
    grid = [sys.executable, "-m", "rl_harness", "-m", "algo=ppo", "env=cartpole", "n_envs=1"]
    grid += ["algo.n_steps=64", "algo.batch_size=64", "n_timesteps=512", "eval.freq=256"]
    grid += ["eval.episodes=2", "checkpoint.freq=0", "progress_bar=false", "seed=0,1"]
    grid += ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug"]
    grid += ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
    done = subprocess.run(grid, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(local_cluster.tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.data.params["seed"] for r in runs) == ["0", "1"]
    for run in runs:  # each ran as its own SLURM job and finished
        assert run.info.status == "FINISHED"
        assert run.data.tags["slurm.job"].split("_")[0].isdigit()
    assert len({r.data.tags["slurm.job"] for r in runs}) == 2
    # each job writes where the submitting command put its sweep (a resubmitted job too, so
    # that resume=auto finds its run there)
    [sweep_dir] = (tmp_path / "multirun").glob("*/*")
    assert sorted(Path(r.data.tags[OUT_DIR_TAG]).parent for r in runs) == [sweep_dir] * 2


def test_a_preempted_worker_is_requeued_and_its_trial_continues_from_its_checkpoint(
    local_cluster: cluster.Cluster, tmp_path: Path
) -> None:
    slurm_or_skip()
    study = "slurm-requeue"
    overrides = [a for a in TINY if not a.startswith(("n_timesteps=", "eval.freq="))]
    overrides += ["n_timesteps=4096", "eval.freq=512", "checkpoint.freq=512"]
    job = submit_workers(local_cluster, tmp_path, 1, study, overrides, n_trials=1)
    client = MlflowClient(local_cluster.tracking_uri)

    def checkpointed() -> str | None:
        for run in client.search_runs([e.experiment_id for e in client.search_experiments()]):
            if run.info.run_name == "trial-0" and client.list_artifacts(
                run.info.run_id, "checkpoints"
            ):
                return run.info.run_id
        return None

    run_id = wait_for(checkpointed, "trial 0 to upload a checkpoint", 300)
    requeue = subprocess.run(["scontrol", "requeue", f"{job}_0"], capture_output=True, text=True)
    assert requeue.returncode == 0, requeue.stderr  # what pre-emption with requeue does

    wait_for(lambda: left_queue(job), f"SLURM job {job} to run again and finish", 600)
    log = (tmp_path / "sweeps" / study / "slurm" / "worker-0.log").read_text()
    trials = optuna.load_study(study_name=study, storage=local_cluster.storage_url).trials
    retries = [t for t in trials if t.user_attrs.get("retry_of") == 0]
    if not retries and trials[0].state == optuna.trial.TrialState.COMPLETE:  # lost the race
        pytest.fail(
            "trial 0 completed before the requeue landed: give the test a larger n_timesteps"
            f"\n{log[-3000:]}"
        )
    [retry] = retries
    assert retry.state == optuna.trial.TrialState.COMPLETE, log[-3000:]
    assert retry.user_attrs["mlflow_run_id"] == run_id and f"continues run {run_id}" in log
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["resume/from_step"] >= 512
