"""`rl_harness.qlearning:QLearning`, the import path in configs and runs recorded so far; the
algorithm lives in `rl_harness.agents.qlearning`."""

from rl_harness.agents.qlearning import QLearning  # noqa: F401
