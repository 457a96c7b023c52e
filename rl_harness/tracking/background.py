"""A helper process that records a run beside training, through a pipe.

A fresh `python -m rl_harness` process would spend 2–3 s importing MLflow and opening its
store, then about 2 s packaging the policy model and drawing the learning curve — all on the
critical path of a training run that uses one core (torch threads = 1). With
`mlflow.background` on (the default for a fresh process), a helper process does that work on
another core while the model trains. The helper runs `tracking.mlflow_run` itself, so the run it
records is the same run: same params, metrics, artifacts and tags, and it still ends FINISHED,
FAILED or KILLED — FAILED also when the training process dies without a word, since the helper
sees its pipe close.

    training process                         helper (python -m <entry>: record_tasks)
    prestart() ───────── spawns ──────────▶  imports MLflow, opens the store, replies "store"
    ...compose config, build env & model...
    ready(): waits for "store" (unreachable store: one-line ConfigError before training)
    open → params → metrics … → policy model → artifacts → plot → end(status)
    close(): waits for "ended" ◀────────────  ends the run, replies with its id

Nothing here imports MLflow, so a process that records in the background never does.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

from rl_harness.errors import ConfigError, HarnessError
from rl_harness.tracking.recorder import Tasks
from rl_harness.tracking.store import owner_tags

READY_TIMEOUT_S = 120.0  # importing MLflow on a loaded machine; the store check itself is ~3 s
END_TIMEOUT_S = 600.0  # packaging a large policy model and uploading artifacts to a server

_helper: subprocess.Popen | None = None


def prestart(entry: str) -> subprocess.Popen:
    """Start the helper now, so it loads MLflow while the caller composes its config.

    `entry` is the module the helper runs (`python -m entry`): the layer that owns the tasks,
    whose `main` calls `main(tasks)` here with its table."""
    global _helper
    if _helper is None or _helper.poll() is not None:
        _helper = subprocess.Popen(
            [sys.executable, "-m", entry], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
    return _helper


def begin(entry: str) -> BackgroundRecorder:
    """Hand the helper a go-ahead to check the store (it touches nothing before this, so a
    config error found earlier leaves no trace)."""
    global _helper
    recorder, _helper = BackgroundRecorder(prestart(entry)), None
    recorder.send("check")
    return recorder


def use_background(setting: Any) -> bool:
    """`mlflow.background`: true, false, or auto — a helper only where MLflow is not loaded yet
    (a fresh CLI process); a process that has it (tests, sweeps, notebooks) records inline."""
    if setting in (True, False):
        return setting
    if setting == "auto":
        return "mlflow" not in sys.modules
    raise ConfigError(f"mlflow.background={setting!r} is not one of: true, false, auto")


# ---------------------------------------------------------------- the training process's side


class BackgroundRecorder:
    """The Recorder interface, as messages to the helper process."""

    def __init__(self, proc: subprocess.Popen) -> None:
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("the recording helper must be started with pipes for stdin and stdout")
        self.proc = proc
        self._commands: IO[bytes] = proc.stdin
        self._replies: IO[bytes] = proc.stdout
        self._buffer = b""
        self._run_id: str | None = None
        self._ready = False

    # -- plumbing
    def send(self, *message: Any) -> None:
        try:
            pickle.dump(message, self._commands, protocol=pickle.HIGHEST_PROTOCOL)
            self._commands.flush()
        except (BrokenPipeError, OSError):
            raise RuntimeError(
                f"the MLflow recording process exited (code {self.proc.poll()})"
                " before the run was recorded; its stderr says why"
            ) from None

    def receive(self, expected: str, timeout: float) -> dict[str, Any]:
        while True:
            reply = self._next_reply(expected, timeout)
            if reply.get("kind") == "error":
                raise ConfigError(reply["message"])
            if reply.get("kind") == "opened":
                self._run_id = reply["run_id"]
            if reply.get("kind") == expected:
                return reply

    def _next_reply(self, expected: str, timeout: float) -> dict[str, Any]:
        fd = self._replies.fileno()
        while b"\n" not in self._buffer:
            if not select.select([fd], [], [], timeout)[0]:
                raise RuntimeError(
                    f"the MLflow recording process sent no '{expected}' in {timeout:.0f} s"
                )
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait()
                raise RuntimeError(
                    f"the MLflow recording process exited (code "
                    f"{self.proc.returncode}) before '{expected}'; its stderr "
                    "says why"
                )
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    # -- the Recorder interface
    def ready(self) -> None:
        """Block until the store is known reachable (raises its one-line ConfigError if not)."""
        if not self._ready:
            self.receive("store", READY_TIMEOUT_S)
            self._ready = True

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.send("call", "log_params", (dict(params),))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.send("call", "log_metrics", ({k: float(v) for k, v in metrics.items()}, int(step)))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.send("call", "set_tags", ({k: str(v) for k, v in tags.items()},))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.send("call", "log_artifact", (str(Path(path).resolve()), artifact_path))

    def hand_over_dir(self, path: str | Path, artifact_path: str, keep: int = 0) -> None:
        self.send("call", "hand_over_dir", (str(Path(path).resolve()), artifact_path, keep))

    def run_task(self, name: str, *args: Any) -> None:
        """Run in the helper, from the table it was started with (arguments: plain values)."""
        self.send("task", name, args)

    def writer(self) -> Any:
        """An SB3 logger output format whose records go to the helper, which batches them."""
        from rl_harness.tracking.logger_output import MetricsOutput

        return MetricsOutput(
            lambda values, step: self.send("metrics", values, step), lambda: self.send("flush")
        )

    def end(self, status: str, error: BaseException | None = None) -> None:
        summary = details = None
        if error is not None:
            summary = f"{type(error).__name__}: {error}"[:5000]
            details = "".join(traceback.format_exception(error))
        self.send("end", status, summary, details)
        reply = self.receive("ended", END_TIMEOUT_S)
        self._run_id = reply["run_id"]
        self._commands.close()
        self.proc.wait(timeout=60)
        if reply.get("failure") and status == "FINISHED":
            raise RuntimeError(
                f"MLflow run {self._run_id} could not be fully recorded and is "
                f"marked FAILED: {reply['failure']}"
            )


@contextlib.contextmanager
def background_run(
    recorder: BackgroundRecorder,
    experiment: str,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    unique_name: bool = False,
    system_metrics: bool = False,
) -> Iterator[BackgroundRecorder]:
    """`tracking.mlflow_run`, carried out by the helper that `begin` handed the go-ahead."""
    try:
        recorder.ready()
        recorder.send(
            "open",
            {
                "experiment": experiment,
                "run_name": run_name,
                "tags": {
                    "command": " ".join(sys.argv),
                    **owner_tags(),
                    **{k: str(v) for k, v in (tags or {}).items()},
                },
                "run_id": run_id,
                "parent_run_id": parent_run_id,
                "unique_name": unique_name,
                "system_metrics": system_metrics,
            },
        )
        recorder.receive("opened", READY_TIMEOUT_S)  # ~0.2 s: a run that cannot open fails now
    except BaseException:
        recorder.proc.kill()
        raise
    try:
        yield recorder
    except KeyboardInterrupt:
        _end_quietly(recorder, "KILLED")
        raise
    except BaseException as e:
        _end_quietly(recorder, "FAILED", e)
        raise
    recorder.end("FINISHED")


def _end_quietly(
    recorder: BackgroundRecorder, status: str, error: BaseException | None = None
) -> None:
    """On the way out of a failure: the original error is what the user must see."""
    try:
        with _ignore_interrupts():
            recorder.end(status, error)
    except Exception as e:  # noqa: BLE001
        print(f"rl_harness: the run could not be marked {status}: {e}", file=sys.stderr)
        with contextlib.suppress(OSError):
            recorder.proc.kill()


@contextlib.contextmanager
def _ignore_interrupts() -> Iterator[None]:
    """A second Ctrl-C must not stop the run from being marked KILLED."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------- the helper's side


class _RemoteFailure(Exception):
    """The training process's error, recorded on the run as it was raised there."""

    def __init__(self, summary: str, details: str | None) -> None:
        super().__init__(summary)
        self.summary, self.details = summary, details


def _reply(out: BinaryIO, kind: str, **fields: Any) -> None:
    out.write((json.dumps({"kind": kind, **fields}) + "\n").encode())
    out.flush()


def _read(commands: BinaryIO) -> tuple | None:
    """The next message; None once the trainer has closed the pipe (or died mid-message)."""
    try:
        return pickle.load(commands)
    except (EOFError, OSError, pickle.UnpicklingError):
        return None


def serve(
    commands: BinaryIO, replies: BinaryIO, tasks: Tasks, prewarm: Callable[[], None] | None = None
) -> None:
    """The helper: open the store, then record one run from the messages on `commands`."""
    from rl_harness.tracking import (
        runs,  # the slow part, done while the trainer composes its config
    )

    message = _read(commands)
    if message is None or message[0] != "check":
        return  # the trainer stopped before it needed the store (a config error, say)
    try:
        runs.check_store()
    except HarnessError as e:
        _reply(replies, "error", message=str(e))
        return
    _reply(replies, "store")
    message = _read(commands)
    if message is None or message[0] != "open":
        return  # the trainer stopped before opening a run (a config error, say)
    failure: str | None = None
    try:
        with runs.mlflow_run(**message[1], tasks=tasks) as recorder:
            _reply(replies, "opened", run_id=recorder.run_id)
            if prewarm is not None:
                with contextlib.suppress(Exception):  # it would only make the end slower
                    prewarm()
            failure = _record(recorder, commands)
            if failure is not None:
                raise _RemoteFailure(f"recording failed: {failure}", None)
    except (_RemoteFailure, KeyboardInterrupt):
        pass  # recorded on the run by mlflow_run
    _reply(replies, "ended", run_id=recorder.run_id, failure=failure)


def _record(recorder: Any, commands: BinaryIO) -> str | None:
    """Carry out messages until `end`; a failing call fails the run, after the rest is saved."""
    metrics = recorder.metrics
    calls: dict[str, Callable[..., None]] = {
        "log_params": recorder.log_params,
        "log_metrics": recorder.log_metrics,
        "set_tags": recorder.set_tags,
        "log_artifact": recorder.log_artifact,
        "hand_over_dir": recorder.hand_over_dir,
    }
    failure: str | None = None
    while True:
        message = _read(commands)
        if message is None:  # the trainer died without ending the run: keep what it sent
            with contextlib.suppress(Exception):
                metrics.flush()
            raise _RemoteFailure("training process exited without ending the run", None)
        kind, *args = message
        try:
            if kind == "metrics":
                metrics.add(args[0], args[1])
            elif kind == "flush":
                metrics.flush()
            elif kind == "call":
                calls[args[0]](*args[1])
            elif kind == "task":
                recorder.run_task(args[0], *args[1])
            elif kind == "end":
                metrics.flush()
                status, summary, details = args
                if status == "KILLED":
                    raise KeyboardInterrupt
                if status == "FAILED":
                    raise _RemoteFailure(summary or "failed", details)
                return failure
        except (_RemoteFailure, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - keep recording; the run ends FAILED
            traceback.print_exc()
            failure = failure or f"{kind} {args[0] if args else ''}: {type(e).__name__}: {e}"


def main(tasks: Tasks, prewarm: Callable[[], None] | None = None) -> None:
    """The helper process's body (its entry module passes its task table)."""
    # Ctrl-C and `kill` go to the trainer, which ends the run through the pipe; the helper
    # itself stops when that pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library prints must not reach the pipe
    # MLflow's INFO lines ("Creating initial MLflow database tables...") would interleave with
    # the trainer's output, possibly after its last line; warnings and errors still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    with contextlib.suppress(BrokenPipeError):  # the trainer has gone: nothing left to tell
        serve(sys.stdin.buffer, replies, tasks, prewarm)
    # Everything is committed once the run has ended; an orderly interpreter teardown with
    # torch, MLflow and SQLAlchemy loaded takes ~1 s the trainer would otherwise wait for.
    sys.stderr.flush()
    os._exit(0)
