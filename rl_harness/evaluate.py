"""`python -m rl_harness.evaluate` — the command; the code is in `rl_harness.analysis.evaluate`.

The command line is checked first (config.commands, conf/evaluate.yaml), before Hydra runs and
before SB3, torch and MLflow load.
"""

from __future__ import annotations

import sys

from rl_harness.config import commands

PROGRAM = "rl_harness.evaluate"


def main() -> None:
    with commands.reporting(PROGRAM):
        sys.argv[1:] = commands.checked_argv("evaluate", sys.argv[1:])
    from rl_harness.analysis.evaluate import main as hydra_main

    hydra_main()


if __name__ == "__main__":
    main()
