"""`python -m rl_harness.export` — the command; the code is in `rl_harness.deploy.export`."""

from rl_harness.deploy.export import cli

if __name__ == "__main__":
    cli()
