"""One exception tree for user-facing problems.

    HarnessError            anything the CLI reports as one line and exit code 2
    ├── ConfigError         bad configuration: unknown name or key, wrong type, bad value
    │   (also a ValueError, so library callers can catch it as such)
    └── ObservationError    observations that do not fit a policy's observation space
        (also a ValueError; the serving model turns it into an HTTP 400)

Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix; its message says how."""


class ConfigError(HarnessError, ValueError):
    """A configuration value or key is not acceptable."""


class ObservationError(HarnessError, ValueError):
    """Observations sent to a trained policy do not fit its observation space."""
