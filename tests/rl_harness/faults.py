"""Test doubles that make training go wrong on purpose, and killing a run mid-training."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import NoReturn

import gymnasium as gym
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback


def ended_early(proc: subprocess.Popen, what: str = "training") -> NoReturn:
    """Fails the test: the process it meant to stop mid-way ended first, so what the test
    would check next (a killed run, a resume) would mislead."""
    err = proc.stderr.read()[-3000:] if proc.stderr and not proc.stderr.closed else ""
    pytest.fail(
        f"{what} ended (exit {proc.returncode}) before the test could stop it mid-way: give "
        f"the test a larger n_timesteps\n{err}"
    )


def kill_mid_training(
    proc: subprocess.Popen,
    signum: int = signal.SIGKILL,
    out_dir: Path | None = None,
    group: bool = False,
) -> None:
    """Sends `signum` to the trainer (`group`: to its whole process group, the recording
    helper too, as when the machine is lost) and reaps it; fails with `ended_early` when the run
    had finished its budget first (it exited 0, or wrote out_dir/model.zip, which only a
    completed `learn` does)."""
    with contextlib.suppress(ProcessLookupError):  # the group may be gone already
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    proc.wait(timeout=60)
    if proc.returncode == 0 or (out_dir is not None and (out_dir / "model.zip").exists()):
        ended_early(proc)


class NaNRewardAfter(gym.Wrapper):
    """Returns a NaN reward from step `after` on (counted over the env's lifetime)."""

    def __init__(self, env: gym.Env, after: int = 300) -> None:
        super().__init__(env)
        self.after, self.count = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return (
            obs,
            float("nan") if self.count >= self.after else reward,
            terminated,
            truncated,
            info,
        )


class PoisonWeights(BaseCallback):
    """After the first evaluation, sets one policy weight to NaN (a diverged update)."""

    def _on_step(self) -> bool:
        with torch.no_grad():
            next(self.model.policy.parameters()).view(-1)[0] = float("nan")
        return True
