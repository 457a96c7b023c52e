"""`python -m rl_harness.runs` — the command; the code is in `rl_harness.analysis.run_list`.

The command line is checked first (config.commands, conf/runs.yaml), before MLflow loads.
"""

from __future__ import annotations

import sys

from rl_harness.config import commands

PROGRAM = "rl_harness.runs"


def main() -> None:
    with commands.reporting(PROGRAM):
        cfg = commands.load("runs", sys.argv[1:])
        from rl_harness.analysis import run_list

        run_list.run(cfg)


if __name__ == "__main__":
    main()
