"""`python -m rl_harness.serving` — the command; the code is in `rl_harness.deploy.serving`.

The command line is checked first (config.commands, conf/register.yaml and conf/serve.yaml),
before MLflow loads. Also the import path of `PolicyModel` inside every policy model logged so
far (`from rl_harness.serving import PolicyModel`): keep it (loaded on first use).
"""

from __future__ import annotations

import sys
from typing import Any

from rl_harness.config import commands

__all__ = ["PolicyModel", "cli"]  # noqa: F822 - PolicyModel: module __getattr__
PROGRAM = "rl_harness.serving"


def cli() -> None:
    with commands.reporting(PROGRAM):
        command, cfg = commands.load_subcommand(PROGRAM, ("register", "serve"), sys.argv[1:])
        from rl_harness.deploy import serving

        serving.run(command, cfg)


def __getattr__(name: str) -> Any:
    if name == "PolicyModel":
        from rl_harness.deploy.serving import PolicyModel

        return PolicyModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    cli()
