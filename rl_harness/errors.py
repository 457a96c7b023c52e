"""One exception tree for user-facing problems.

    HarnessError            anything the CLI reports as one line and exit code 2
    ├── ConfigError         bad configuration: unknown name or key, wrong type, bad value
    │   (also a ValueError, so library callers can catch it as such)
    └── NumericalError      training diverged: NaN/inf in observations, rewards, actions or
                            parameters (also an ArithmeticError)

Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix; its message says how."""


class ConfigError(HarnessError, ValueError):
    """A configuration value or key is not acceptable."""


class NumericalError(HarnessError, ArithmeticError):
    """Training produced NaN or inf; the last good checkpoint is kept."""
