"""One exception tree for user-facing problems.

    HarnessError            anything the CLI reports as one line and exit code 2
    ├── ConfigError         bad configuration: unknown name or key, wrong type, bad value
    │   (also a ValueError, so library callers can catch it as such)
    ├── NumericalError      training diverged: NaN/inf in observations, rewards, actions or
    │                       parameters (also an ArithmeticError)
    └── ObservationError    observations that do not fit a policy's observation space
        (also a ValueError; the serving model turns it into an HTTP 400)

    Stopped                 Ctrl-C or `kill`: a KeyboardInterrupt that carries what the stop
                            left behind (signal, run id, checkpoint), for the one-line report

Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn


class HarnessError(Exception):
    """A problem the user can fix; its message says how.

    The command line prints it as one line (`exit_with`) and exits with code 2.
    """


class ConfigError(HarnessError, ValueError):
    """A configuration value or key is not acceptable."""


class NumericalError(HarnessError, ArithmeticError):
    """Training produced NaN or inf; the last good checkpoint is kept."""


class ObservationError(HarnessError, ValueError):
    """Observations sent to a trained policy do not fit its observation space."""


class Stopped(KeyboardInterrupt):
    """Training was stopped by a signal; the layers it passes through fill in what they saved.

    Attributes:
        signum: The signal that stopped it (2: SIGINT, Ctrl-C; 15: SIGTERM, `kill`).
        run_id: The MLflow run it stopped, once known.
        checkpoint: The checkpoint written on the way out, once written.
        step: The timestep of that checkpoint.
    """

    def __init__(self, signum: int = 2) -> None:
        """A stop by signal `signum`; what it left behind is filled in on the way out."""
        super().__init__(f"signal {signum}")
        self.signum = signum
        self.run_id: str | None = None
        self.checkpoint: str | None = None
        self.step: int | None = None


def raise_stopped(signum: int, frame: object) -> None:
    """The signal handler that makes `kill` (SIGTERM) stop a run as Ctrl-C does.

    Args:
        signum: The signal received.
        frame: The interrupted frame (unused; the handler's signature).

    Raises:
        Stopped: Always, carrying `signum`.
    """
    raise Stopped(signum)


class StopOnce:
    """A signal handler that stops a process once, then lets later signals pass.

    A bench's cell must write its checkpoint and its KILLED status whatever a second Ctrl-C, or
    a pool forwarding the first to its workers, sends after. Training defers it to the next
    rollout's start, as it defers `raise_stopped` (training.callbacks.stops_at_rollout_start).
    One instance serves SIGINT and SIGTERM alike.
    """

    def __init__(self) -> None:
        """Not stopping yet; `stopping` turns true with the first signal."""
        self.stopping = False

    def __call__(self, signum: int, frame: object) -> None:
        """The first signal raises Stopped; later ones do nothing (`kill -9` ends at once)."""
        if not self.stopping:
            self.stopping = True
            raise Stopped(signum)


def stopped(interrupt: KeyboardInterrupt) -> Stopped:
    """The interrupt as a Stopped (a plain Ctrl-C arrives as a bare KeyboardInterrupt).

    Args:
        interrupt: What was caught.

    Returns:
        `interrupt` itself where it is a Stopped, else a new Stopped for SIGINT.
    """
    return interrupt if isinstance(interrupt, Stopped) else Stopped()


def exit_with(error: HarnessError, program: str) -> NoReturn:
    """The CLIs' one way to report a user mistake: one line on stderr, exit code 2.

    Args:
        error: The mistake; its message says how to fix it.
        program: The command's name, the line's prefix (`rl_harness.evaluate: error: ...`).
    """
    print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)
