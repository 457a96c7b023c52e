"""`python -m rl_harness.export` — the command; the code is in `rl_harness.deploy.export`.

The command line is checked first (config.commands, conf/export.yaml), before torch loads.
"""

from __future__ import annotations

import sys

from rl_harness.config import commands

PROGRAM = "rl_harness.export"


def cli() -> None:
    with commands.reporting(PROGRAM):
        cfg = commands.load("export", sys.argv[1:])
        from rl_harness.deploy import export

        export.run(cfg)


if __name__ == "__main__":
    cli()
