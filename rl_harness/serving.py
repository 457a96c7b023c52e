"""`python -m rl_harness.serving` — the command; the code is in `rl_harness.deploy.serving`.

Also the import path of `PolicyModel` inside every policy model logged so far
(`from rl_harness.serving import PolicyModel`): keep it.
"""

from rl_harness.deploy.serving import PolicyModel, cli

__all__ = ["PolicyModel", "cli"]

if __name__ == "__main__":
    cli()
