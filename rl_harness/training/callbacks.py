"""Callbacks on SB3's callback API: evaluation extras, atomic checkpoints, a divergence guard."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback

from rl_harness.common.stats import mean_std
from rl_harness.errors import NumericalError, StopOnce, Stopped, raise_stopped
from rl_harness.tracking.logger_output import MetricsOutput
from rl_harness.training import checkpoints, exact_state


class EvalExtras(BaseCallback):
    """Runs after each evaluation of its parent `EvalCallback`.

    Adds what SB3's EvalCallback does not record: `eval/std_reward` (the sample std, as in
    every report of the harness) and, where the task's best possible return is known,
    `eval/optimality` (mean return / optimum).
    """

    def __init__(self, optimum: float | None = None) -> None:
        super().__init__()
        self.optimum = optimum

    def _on_step(self) -> bool:
        parent = self.parent
        assert isinstance(parent, EvalCallback)
        mean, std = mean_std(parent.evaluations_results[-1])
        self.logger.record("eval/std_reward", std)
        if self.optimum:
            self.logger.record("eval/optimality", mean / self.optimum)
        self.logger.dump(self.num_timesteps)
        return True


def _arrays(model: Any) -> Iterator[tuple[str, Any]]:
    policy = getattr(model, "policy", None)
    if policy is not None and hasattr(policy, "named_parameters"):
        yield from policy.named_parameters()
    for name, value in vars(model).items():  # e.g. a Q-table
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            yield name, value


def nonfinite_parameter(model: Any) -> str | None:
    """Name of the first parameter array holding NaN or inf, if any."""
    for name, value in _arrays(model):
        finite = value.isfinite().all() if hasattr(value, "isfinite") else np.isfinite(value).all()
        if not bool(finite):
            return name
    return None


class Checkpoint(BaseCallback):
    """Every `freq` timesteps an atomic checkpoint (see checkpoints.py), only of a sound model.

    Written at the start of a rollout, once `freq` steps have passed: the update for the last
    rollout is done and nothing is half-collected, so a resumed run follows the same rollout
    schedule as one never interrupted; with the training state of `siblings` (the other
    callbacks, exact_state), it takes the very same steps. A stop asked for by a signal
    (`stop_signal`, see `stops_at_rollout_start`) is carried out here too: a checkpoint, then
    `Stopped`. Parameters are checked first: a model whose weights went NaN raises
    NumericalError and is never written, so the newest checkpoint on disk is always the last
    good one. The metrics logged so far reach the store with each checkpoint, so a process
    killed later loses none from before it.
    """

    def __init__(
        self,
        root: Path,
        freq: int,
        keep: int,
        replay_buffer: bool,
        on_saved: Callable[[Path], None] | None = None,
    ) -> None:
        super().__init__()
        self.root, self.freq, self.keep, self.replay_buffer = root, freq, keep, replay_buffer
        self.on_saved = on_saved  # e.g. hand it over for upload (train.checkpoint_upload)
        self.siblings: list[BaseCallback] = []  # whose state a checkpoint holds
        self.stop_signal: int | None = None
        self._next = freq

    def _on_training_start(self) -> None:
        self._next = (self.model.num_timesteps // self.freq + 1) * self.freq

    def _on_rollout_start(self) -> None:
        if self.stop_signal is not None:
            stop, self.stop_signal = Stopped(self.stop_signal), None  # not in the checkpoint
            stop.checkpoint = str(self.save())
            raise stop
        if self.model.num_timesteps >= self._next:
            self._next = (self.model.num_timesteps // self.freq + 1) * self.freq
            self.save()

    def _on_step(self) -> bool:
        return True

    def save(self, at_boundary: bool = True) -> Path:
        """A checkpoint now; `at_boundary`: at a rollout's start, where a resume is exact."""
        if (bad := nonfinite_parameter(self.model)) is not None:
            raise NumericalError(
                f"parameter '{bad}' became NaN/inf by step {self.model.num_timesteps}; "
                f"last good checkpoint: {checkpoints.latest(self.root) or 'none'}"
            )
        for output in self.model.logger.output_formats:
            if isinstance(output, MetricsOutput):
                output.flush()
        state = exact_state.capture(self.model, self.siblings, at_boundary)
        saved = checkpoints.save(self.model, self.root, self.keep, self.replay_buffer, state)
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved


@contextlib.contextmanager
def stops_at_rollout_start(saver: Checkpoint | None) -> Iterator[None]:
    """While training: the first SIGINT or SIGTERM asks `saver` to stop at the next rollout's
    start (at most one rollout later), where its checkpoint resumes exactly; a second stops
    at once, or, where the handler was a `StopOnce` (a benchmark's), is let pass as it would
    have. Only signals that would stop the run anyway are deferred: a handler someone else
    set (submitit's) stays. Without a saver, or off the main thread, signals act as they did."""
    if saver is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = (signal.SIG_DFL, signal.default_int_handler, raise_stopped)
    handlers: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    deferred = [s for s, h in handlers.items() if h in stopping or isinstance(h, StopOnce)]
    once = [h for s, h in handlers.items() if s in deferred and isinstance(h, StopOnce)]

    def ask(signum: int, frame: object) -> None:
        if saver.stop_signal is None and not any(h.stopping for h in once):
            saver.stop_signal = signum
            for handler in once:  # stopping now: its later signals pass, here and after
                handler.stopping = True
        elif not isinstance(handlers[signum], StopOnce):
            raise Stopped(signum)

    previous = {s: signal.signal(s, ask) for s in deferred}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


class FiniteGuard(BaseCallback):
    """Stops training once the parameters hold NaN or inf.

    Checked when a rollout starts (the previous update is done, no action taken yet with the
    new parameters), at most every `every` steps, so algorithms whose rollouts are a single
    step (tabular Q-learning) do not pay for a scan of their table on every step.
    """

    def __init__(self, every: int = 2048) -> None:
        super().__init__()
        self.every, self._last = every, -every

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self._last < self.every:
            return
        self._last = self.model.num_timesteps
        if (bad := nonfinite_parameter(self.model)) is not None:
            raise NumericalError(
                f"parameter '{bad}' became NaN/inf by step "
                f"{self.model.num_timesteps}; training stopped"
            )


class OnPolicyLogs(BaseCallback):
    """SB3's on-policy logging cadence, counted over the whole run: its `learn` dumps the logs
    every `interval` iterations counted from that call, so a resumed run (SB3 passed
    `log_interval=None`) would dump at other steps than the uninterrupted one. Runs where SB3
    would, after the rollout."""

    def __init__(self, interval: int) -> None:
        super().__init__()
        self.interval = interval

    def _on_rollout_end(self) -> None:
        model: Any = self.model  # an OnPolicyAlgorithm (train.learn adds this callback)
        iteration = model.num_timesteps // (model.n_steps * model.n_envs)
        if iteration % self.interval == 0:
            model.dump_logs(iteration)

    def _on_step(self) -> bool:
        return True


def make_callbacks(
    cfg: DictConfig,
    eval_env: Any,
    out_dir: Path,
    optimum: float | None = None,
    after_eval: list[BaseCallback] | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
    restore: dict | None = None,
) -> list[BaseCallback]:
    """Divergence guard, evaluation (best model kept) and checkpoints; frequencies in steps.
    `restore`: a checkpoint's training state, put back when training starts (exact resume)."""
    callbacks: list[BaseCallback] = [FiniteGuard()]
    per_env = max(cfg.n_envs, 1)
    if eval_env is not None and cfg.eval.freq > 0:
        extras: list[BaseCallback] = [EvalExtras(optimum), *(after_eval or [])]
        callbacks.append(
            EvalCallback(
                eval_env,
                callback_after_eval=CallbackList(extras),
                n_eval_episodes=cfg.eval.episodes,
                eval_freq=max(cfg.eval.freq // per_env, 1),
                deterministic=cfg.eval.deterministic,
                best_model_save_path=str(out_dir),
                log_path=str(out_dir),
                verbose=0,
            )
        )
    if cfg.checkpoint.freq > 0:
        saver = Checkpoint(
            out_dir / "checkpoints",
            cfg.checkpoint.freq,
            cfg.checkpoint.keep,
            cfg.checkpoint.replay_buffer,
            on_checkpoint,
        )
        callbacks.append(saver)
        saver.siblings = list(callbacks)
    if restore is not None:
        callbacks.append(exact_state.Restore(restore, list(callbacks)))
    return callbacks
