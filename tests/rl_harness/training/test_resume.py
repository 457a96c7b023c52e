"""Crash safety: kill and resume, Ctrl-C, dead processes, divergence, atomic checkpoints."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from rl_harness.errors import ConfigError, NumericalError
from rl_harness.tracking import runs as tracking
from rl_harness.training import checkpoints, train
from tests.conftest import compose_config
from tests.rl_harness.faults import PoisonWeights, ended_early, kill_mid_training
from tests.waiting import group_gone, wait_for

ROOT = Path(__file__).resolve().parents[3]
SLOW_PPO = [
    "algo=ppo",
    "env=cartpole",
    "n_envs=1",
    "algo.n_steps=128",
    "algo.batch_size=64",
    "algo.n_epochs=4",
    "eval.freq=1000",
    "eval.episodes=2",
    "progress_bar=false",
]


def client() -> MlflowClient:
    return MlflowClient(tracking.tracking_uri())


def runs(status: str | None = None) -> list:
    found = client().search_runs([e.experiment_id for e in client().search_experiments()])
    return [r for r in found if status is None or r.info.status == status]


def start_training(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rl_harness", *SLOW_PPO, f"hydra.run.dir={tmp_path}/run", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )


def harness_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m rl_harness <args>` as the user types it, which must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "rl_harness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def resume_cli(run_id: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`resume=<run id>` as the user types it, which must succeed."""
    return harness_cli(cwd, f"resume={run_id}", *args)


def wait_for_status(run_id: str, status: str, timeout: float = 30) -> object:
    def reached() -> object:
        run = client().get_run(run_id)
        return run if run.info.status == status else None

    return wait_for(reached, f"run {run_id} to become {status}", timeout)


def wait_for_checkpoint(proc: subprocess.Popen, root: Path, step: int, timeout: float = 120):
    """The latest checkpoint once it is at `step` or later; fails if training ends first."""

    def written() -> Path | None:
        latest = checkpoints.latest(root)
        if latest is not None and checkpoint_step(latest) >= step:
            return latest
        if proc.poll() is not None:
            ended_early(proc)
        return None

    try:
        return wait_for(written, f"a checkpoint at step >= {step} in {root}", timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # a failed test leaves no trainer behind
            os.killpg(proc.pid, signal.SIGKILL)
        raise


def wait_past(proc: subprocess.Popen, out_dir: Path, step: int) -> int:
    """Training has logged a step beyond `step`: a signal now lands mid-training."""

    def logged() -> int | None:
        if proc.poll() is not None:
            ended_early(proc)
        last = max_logged_step(out_dir)
        return last if last > step else None

    return wait_for(logged, f"training to log a step after {step}", 120)


def test_a_kill_that_lost_the_race_to_the_end_of_training_fails_the_test(tmp_path: Path) -> None:
    """kill_mid_training fails, saying why, where the run had finished first, and passes where
    the signal landed mid-run (a process waiting on its stdin stands in for the trainer)."""

    def trainer() -> subprocess.Popen:
        code = "import sys; sys.stdin.read()"  # runs until killed or its stdin closes
        cmd = [sys.executable, "-c", code]
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    running = trainer()
    kill_mid_training(running, out_dir=tmp_path)
    assert running.returncode == -signal.SIGKILL
    finished = trainer()
    finished.communicate("")  # its budget done: exit 0
    with pytest.raises(pytest.fail.Exception, match="exit 0.* larger n_timesteps"):
        kill_mid_training(finished, out_dir=tmp_path)
    (tmp_path / "model.zip").touch()  # learn completed, then the signal landed
    with pytest.raises(pytest.fail.Exception, match="before the test could stop it"):
        kill_mid_training(trainer(), out_dir=tmp_path)


def checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.split("_")[1])


def max_logged_step(out_dir: Path) -> int:
    """The last step in the progress CSVs; -1 before the first row."""
    steps = [-1]
    for part in out_dir.glob("progress*.csv"):
        with part.open() as f:
            steps += [
                int(float(r["time/total_timesteps"]))
                for r in csv.DictReader(f)
                if r.get("time/total_timesteps")
            ]
    return max(steps)


@pytest.mark.slow  # a whole process killed and started again (~20 s): CI's full suite
def test_sigkill_then_resume_finishes_the_same_run(tmp_path: Path) -> None:
    freq, total = 500, 3000
    proc = start_training(tmp_path, f"n_timesteps={total}", f"checkpoint.freq={freq}")
    latest = wait_for_checkpoint(proc, tmp_path / "run/checkpoints", total // 2)
    out_dir = tmp_path / "run"
    wait_past(proc, out_dir, checkpoint_step(latest))
    kill_mid_training(proc, out_dir=out_dir)  # the trainer only: its recording helper sees it die
    killed_at = max_logged_step(out_dir)
    (left,) = runs()
    run_id = left.info.run_id
    dead = wait_for_status(run_id, "FAILED")
    assert "training process exited without ending the run" in dead.data.tags["error"]

    resumed = resume_cli(run_id, tmp_path)
    assert resumed.stdout.splitlines()[-1].startswith(f"run {run_id} | eval ")

    run = client().get_run(run_id)
    assert run.info.status == "FINISHED"
    rollout = 128  # n_steps x n_envs: PPO trains in whole rollouts
    (final,) = client().get_metric_history(run_id, "final/mean_reward")
    assert final.step == -(-total // rollout) * rollout  # as if never interrupted
    from_step = int(run.data.metrics["resume/from_step"])
    assert from_step % rollout == 0 and 0 <= killed_at - from_step < freq + rollout
    evals = [m.step for m in client().get_metric_history(run_id, "eval/mean_reward")]
    assert evals == sorted(evals) and evals[-1] <= total
    assert (out_dir / "model.zip").exists() and len(runs()) == 1
    print(
        f"\nresume: killed at >= {killed_at} steps, resumed from {from_step}, redone "
        f"{killed_at - from_step} steps"
    )


@pytest.mark.slow  # ~25 s
def test_resume_auto_continues_the_run_of_its_output_dir_or_starts_one(tmp_path: Path) -> None:
    """What a pre-empted SLURM job resubmitted by submitit does: the same command again."""
    args = ("n_timesteps=3000", "checkpoint.freq=500", "resume=auto")
    proc = start_training(tmp_path, *args)  # nothing wrote here yet: a new run
    latest = wait_for_checkpoint(proc, tmp_path / "run/checkpoints", 1000)
    kill_mid_training(proc, out_dir=tmp_path / "run", group=True)  # pre-empted: trainer, helper
    (first,) = runs()
    again = start_training(tmp_path, *args)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert out.splitlines()[-1].startswith(f"run {first.info.run_id} | eval ")
    (run,) = runs()  # the same run, continued and finished
    assert run.info.status == "FINISHED"
    assert run.data.metrics["resume/from_step"] >= checkpoint_step(latest)


@pytest.mark.slow  # ~20 s; the fast suite resumes from the run's own directory (above)
def test_resume_on_a_machine_without_the_run_directory_uses_the_uploaded_checkpoint(
    tmp_path: Path,
) -> None:
    freq, total, keep = 500, 3000, 2
    proc = start_training(
        tmp_path,
        f"n_timesteps={total}",
        f"checkpoint.freq={freq}",
        f"checkpoint.keep={keep}",
        "checkpoint.upload=true",
    )
    latest = wait_for_checkpoint(proc, tmp_path / "run/checkpoints", total // 2)
    kill_mid_training(proc, out_dir=tmp_path / "run")
    (left,) = runs()
    run_id = left.info.run_id
    wait_for_status(run_id, "FAILED")  # the helper finished its uploads before ending the run
    stored = sorted(f.path for f in client().list_artifacts(run_id, "checkpoints"))
    assert 1 <= len(stored) <= keep  # the older ones deleted from the store too
    newest = checkpoint_step(Path(stored[-1]))  # the kill may have beaten the last hand-over
    assert checkpoint_step(latest) - freq - 128 <= newest <= checkpoint_step(latest)
    shutil.rmtree(tmp_path / "run")  # another machine: nothing of the first one's disk

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resume_cli(run_id, elsewhere, "hydra.run.dir=run2")
    run = client().get_run(run_id)
    assert run.info.status == "FINISHED"
    assert int(run.data.metrics["resume/from_step"]) == newest
    assert Path(run.data.tags["rl_harness.output_dir"]) == elsewhere / "run2"
    evals = [m.step for m in client().get_metric_history(run_id, "eval/mean_reward")]
    assert evals == sorted(evals) and evals[0] < newest and evals[-1] <= total  # one curve
    assert (elsewhere / "run2/model.zip").exists() and len(runs()) == 1


RESTORE = {
    # off-policy: the replay buffer; normalized observations: the VecNormalize statistics
    "dqn-replay-buffer-vecnormalize": [
        "algo=dqn",
        "env=cartpole",
        "env.normalize=true",
        "algo.learning_starts=64",
        "algo.buffer_size=5000",
        "algo.train_freq=64",
        "algo.gradient_steps=1",
    ],
    "qlearning-q-table": ["algo=qlearning", "env=frozenlake", "n_envs=4"],
}


@pytest.mark.parametrize("overrides", RESTORE.values(), ids=RESTORE.keys())
def test_resume_restores_what_the_checkpoint_holds(
    overrides: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stable_baselines3.common.save_util import load_from_pkl
    from stable_baselines3.common.vec_env import VecNormalize

    from rl_harness.build import registry as algos

    total = 2048
    cfg = compose_config(
        [
            *overrides,
            f"n_timesteps={total}",
            "eval.freq=0",
            "checkpoint.freq=512",
            "checkpoint.keep=10",
            "checkpoint.keep_finished=null",  # as if it had died: every checkpoint left
            "progress_bar=false",
        ]
    )
    first = train.run(cfg)
    saved = checkpoints.all_checkpoints(tmp_path / "checkpoints")
    middle = saved[1]
    for later in saved[2:]:  # as if the process had died after the middle checkpoint
        shutil.rmtree(later)
    client().update_run(first["run_id"], status="KILLED")

    loaded: dict = {}
    real_load = checkpoints.load

    def spy(checkpoint: Path, cls: type, env, device: str):
        model, env = real_load(checkpoint, cls, env, device)
        loaded.update(checkpoint=checkpoint, step=model.num_timesteps, env=env)
        if getattr(model, "replay_buffer", None) is not None:
            loaded["buffer"] = (model.replay_buffer.size(), model.replay_buffer.observations.copy())
        if isinstance(env, VecNormalize):
            loaded["obs_rms"] = (env.obs_rms.mean.copy(), env.obs_rms.count)
        if hasattr(model, "q_table"):
            loaded["q_table"] = model.q_table.copy()
        return model, env

    monkeypatch.setattr(checkpoints, "load", spy)
    threads = torch.get_num_threads()
    try:  # the stored config, but the cores this command gives it
        result = train.run(compose_config([f"resume={first['run_id']}", "torch_threads=2"]))
        assert torch.get_num_threads() == 2 and cfg.torch_threads == 1
    finally:
        torch.set_num_threads(threads)

    assert loaded["checkpoint"] == middle
    step = checkpoint_step(middle)
    assert loaded["step"] == step and 0 < step < total
    cls = algos.get_class(cfg.algo.name)
    if cfg.algo.name == "dqn":
        buffer = load_from_pkl(middle / "replay_buffer.pkl")  # its filled rows only
        assert len(buffer.observations) == step + 1 < buffer.buffer_size
        buffer = checkpoints.untrimmed(buffer)
        assert loaded["buffer"][0] == buffer.size() == step  # every transition until then
        np.testing.assert_array_equal(loaded["buffer"][1], buffer.observations)
        stats = VecNormalize.load(str(middle / "vecnormalize.pkl"), loaded["env"].venv)
        assert loaded["obs_rms"][1] == stats.obs_rms.count > step / 2  # not fresh statistics
        np.testing.assert_array_equal(loaded["obs_rms"][0], stats.obs_rms.mean)
    else:
        table = cls.load(middle / "model.zip").q_table
        assert np.abs(table).sum() > 0  # it had learnt something by then
        np.testing.assert_array_equal(loaded["q_table"], table)
    run = client().get_run(first["run_id"])
    assert result["run_id"] == first["run_id"] and run.info.status == "FINISHED"
    assert result["timesteps"] == total and run.data.metrics["resume/from_step"] == step


@pytest.mark.parametrize(
    "signum",
    [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM],  # ~10 s each
    ids=["ctrl-c", "kill"],
)
def test_a_stop_marks_killed_writes_a_final_checkpoint_and_says_so_in_one_line(
    tmp_path: Path, signum: int
) -> None:
    proc = start_training(tmp_path, "n_timesteps=50000", "checkpoint.freq=1000")
    latest = wait_for_checkpoint(proc, tmp_path / "run/checkpoints", 1000)
    wait_past(proc, tmp_path / "run", checkpoint_step(latest))
    kill_mid_training(proc, signum, out_dir=tmp_path / "run")
    assert proc.returncode == 128 + signum  # 130 / 143, as shells report a signal
    (run,) = runs()
    assert run.info.status == "KILLED"
    final = checkpoints.latest(tmp_path / "run/checkpoints")
    assert checkpoint_step(final) > 1000
    stderr = proc.stderr.read()
    assert "Traceback" not in stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith("rl_harness:")]
    assert line.startswith(f"rl_harness: stopped by {signal.Signals(signum).name} at step ")
    assert f"checkpoint {final}" in line and f"run {run.info.run_id} marked KILLED" in line
    assert line.endswith(f"resume: python -m rl_harness resume={run.info.run_id}")


def test_dead_run_is_marked_failed_on_next_start(tmp_path: Path) -> None:
    proc = start_training(tmp_path, "n_timesteps=50000", "checkpoint.freq=500")
    wait_for_checkpoint(proc, tmp_path / "run/checkpoints", 500)
    # trainer and recording helper at once: no one to tell
    kill_mid_training(proc, out_dir=tmp_path / "run", group=True)
    wait_for(lambda: group_gone(proc.pid), "the recording helper to be reaped")
    assert len(runs("RUNNING")) == 1
    train.run(compose_config([*SLOW_PPO, "n_timesteps=128", "eval.freq=0", "checkpoint.freq=0"]))
    statuses = sorted(r.info.status for r in runs())
    assert statuses == ["FAILED", "FINISHED"]
    dead = runs("FAILED")[0]
    assert "died without ending the run" in dead.data.tags["error"]


def test_nan_reward_stops_training_as_failed() -> None:
    cfg = compose_config(
        [
            *SLOW_PPO,
            "n_timesteps=2000",
            "checkpoint.freq=128",
            "env.wrappers=[{_target_: tests.rl_harness.faults.NaNRewardAfter, after: 300}]",
        ]
    )
    with pytest.raises(NumericalError, match="nan.*rewards|rewards.*nan"):
        train.run(cfg)
    (run,) = runs()
    assert run.info.status == "FAILED" and "NumericalError" in run.data.tags["error"]


def test_nan_weights_stop_training_and_keep_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = compose_config(
        [
            *SLOW_PPO,
            "n_timesteps=4000",
            "eval.freq=512",
            "checkpoint.freq=256",
            "checkpoint.keep=10",
        ]
    )
    with pytest.raises(NumericalError, match="became NaN"):
        train.run(cfg, after_eval=[PoisonWeights()])
    saved = checkpoints.all_checkpoints(tmp_path / "checkpoints")
    assert saved and checkpoint_step(saved[-1]) <= 640  # nothing after the poisoning
    from stable_baselines3 import PPO

    last = PPO.load(saved[-1] / "model.zip")
    assert all(torch.isfinite(p).all() for p in last.policy.parameters())
    assert runs()[0].info.status == "FAILED"


def test_checkpoints_are_atomic_and_pruned(tmp_path: Path) -> None:
    cfg = compose_config(
        [
            "algo=dqn",
            "env=cartpole",
            "algo.learning_starts=64",
            "algo.buffer_size=1000",
            "algo.train_freq=100",
            "algo.gradient_steps=1",
            "n_timesteps=1200",
            "eval.freq=0",
            "checkpoint.freq=200",
            "checkpoint.keep=2",
            "checkpoint.keep_finished=null",
        ]
    )
    root = tmp_path / "checkpoints"
    (root / ".tmp-step_000000000100-1").mkdir(parents=True)  # a write killed half-way
    (root / ".tmp-step_000000000100-1" / "model.zip").write_bytes(b"half")
    final = train.run(cfg)["model_path"]
    assert not list(root.glob(".tmp-*"))  # cleared by the next checkpoint
    (root / ".tmp-step_000000999999-1").mkdir()  # a write killed half-way is never "latest"
    kept = checkpoints.all_checkpoints(root)
    # written at rollout starts (every 100 steps here) once 200 steps have passed; 2 kept
    assert [p.name for p in kept] == ["step_000000000800", "step_000000001000"]
    assert checkpoints.latest(root).name == "step_000000001000"
    assert {f.name for f in kept[-1].iterdir()} == {"model.zip", "replay_buffer.pkl"}
    with zipfile.ZipFile(kept[-1] / "model.zip") as archive:  # the training state inside
        assert checkpoints.STATE_FILE in archive.namelist()
        data = json.loads(archive.read("data"))
    state = checkpoints.read_state(kept[-1])
    assert state["format"] == checkpoints.STATE_FORMAT
    # what the state carries is not in SB3's data a second time; the rest of SB3's is
    assert {"_last_obs", "ep_info_buffer", "exploration_rate"} <= set(state["model"])
    assert not set(state["model"]) & set(data)
    assert {"observation_space", "num_timesteps", "learning_rate"} <= set(data)
    with zipfile.ZipFile(final) as archive:  # the run's model, a plain SB3 save: all of it
        assert {"_last_obs", "ep_info_buffer"} <= set(json.loads(archive.read("data")))


def test_resume_refuses_unknown_run_and_corrupt_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such MLflow run"):
        train.run(compose_config(["resume=0123456789abcdef"]))
    # Recorded in the trainer itself (no helper to mark it when it dies): only `resume` can
    # find the run dead and mark it.
    proc = start_training(
        tmp_path, "n_timesteps=50000", "checkpoint.freq=500", "mlflow.background=false"
    )
    wait_for_checkpoint(proc, tmp_path / "run/checkpoints", 500)
    kill_mid_training(proc, out_dir=tmp_path / "run")
    latest = checkpoints.latest(tmp_path / "run/checkpoints")
    (latest / "model.zip").write_bytes(b"garbage")
    (left,) = runs("RUNNING")
    run_id = left.info.run_id
    with pytest.raises(ConfigError, match="corrupt"):
        train.run(compose_config([f"resume={run_id}"]))
    assert runs()[0].info.status == "FAILED"  # the dead run is marked, not left RUNNING


def test_resume_keeps_evaluation_history(tmp_path: Path) -> None:
    cfg = compose_config(
        [*SLOW_PPO, "n_timesteps=2048", "eval.freq=512", "checkpoint.freq=512"]
        + ["checkpoint.keep_finished=null"]  # as if it had died: every checkpoint left
    )
    first = train.run(cfg)
    # pretend the run died after its 1024-step checkpoint: reopen it as a resumable run
    assert checkpoints.latest(tmp_path / "checkpoints").name == "step_000000001536"
    shutil.rmtree(checkpoints.all_checkpoints(tmp_path / "checkpoints")[-1])
    client().update_run(first["run_id"], status="KILLED")
    result = train.run(compose_config([f"resume={first['run_id']}"]))
    data = np.load(tmp_path / "evaluations.npz")
    assert list(data["timesteps"]) == [512, 1024, 1536, 2048]
    assert result["timesteps"] == 2048


@pytest.mark.parametrize("kind", ["plain", "optimize_memory_usage", "dict", "full"])
def test_a_trimmed_replay_buffer_loads_back_to_the_same_buffer_and_samples(
    kind: str, tmp_path: Path
) -> None:
    """Saved up to its filled size, grown back on load: the same arrays (zeros beyond), pos
    and full, so sampling with the same RNG state draws the same batches."""
    from gymnasium import spaces
    from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
    from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl

    size, n_envs, steps = 1000, 2, 600 if kind == "full" else 137  # rows: 1000 // n_envs
    box = spaces.Box(-1.0, 1.0, (3,), np.float32)
    obs_space = spaces.Dict({"a": box, "b": spaces.Discrete(4)}) if kind == "dict" else box
    cls = DictReplayBuffer if kind == "dict" else ReplayBuffer
    extra = (
        {"optimize_memory_usage": True, "handle_timeout_termination": False}
        if kind == "optimize_memory_usage"
        else {}
    )
    buffer = cls(size, obs_space, spaces.Discrete(2), n_envs=n_envs, **extra)
    obs_space.seed(0)
    for _ in range(steps):
        obs = [obs_space.sample() for _ in range(n_envs)]
        nxt = [obs_space.sample() for _ in range(n_envs)]
        if kind == "dict":
            obs = {k: np.stack([o[k] for o in obs]) for k in ("a", "b")}
            nxt = {k: np.stack([o[k] for o in nxt]) for k in ("a", "b")}
        else:
            obs, nxt = np.stack(obs), np.stack(nxt)
        buffer.add(obs, nxt, np.array([[0], [1]]), np.ones(n_envs), np.zeros(n_envs),
                   [{} for _ in range(n_envs)])  # fmt: skip

    path = tmp_path / "replay_buffer.pkl"
    save_to_pkl(path, checkpoints.trimmed(buffer))
    back = checkpoints.untrimmed(load_from_pkl(path))
    assert (back.pos, back.full, back.buffer_size) == (buffer.pos, buffer.full, size // n_envs)
    assert not hasattr(back, checkpoints.TRIMMED)
    for key, value in vars(buffer).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(back, key), value, err_msg=key)
        elif isinstance(value, dict) and key.endswith("observations"):
            for k in value:
                np.testing.assert_array_equal(getattr(back, key)[k], value[k], err_msg=key)
    for _ in range(3):
        np.random.seed(7)
        want = buffer.sample(32)
        np.random.seed(7)
        got = back.sample(32)
        for a, b in zip(want, got, strict=True):
            if isinstance(a, dict):
                assert all(torch.equal(a[k], b[k]) for k in a)
            elif a is None:  # a field this buffer does not fill (n-step discounts)
                assert b is None
            else:
                assert torch.equal(a, b)
    whole = tmp_path / "whole.pkl"
    save_to_pkl(whole, buffer)
    if kind == "full":
        assert checkpoints.trimmed(buffer) is buffer
    else:  # a fraction of the size: what was filled
        assert path.stat().st_size < whole.stat().st_size / 2


def test_a_finished_run_keeps_only_its_newest_checkpoints(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    for step in (100, 200, 300):
        (root / f"step_{step:012d}").mkdir(parents=True)
    assert checkpoints.finish(root, None) == [] and len(checkpoints.all_checkpoints(root)) == 3
    checkpoints.finish(root, 1)
    assert [p.name for p in checkpoints.all_checkpoints(root)] == ["step_000000000300"]
    checkpoints.finish(root, 0)
    assert checkpoints.all_checkpoints(root) == []
