"""`python -m rl_harness.evaluate` — the command; the code is in `rl_harness.analysis.evaluate`."""

from rl_harness.analysis.evaluate import main

if __name__ == "__main__":
    main()
