"""`python -m rl_harness.compare` — the command; the code is in `rl_harness.analysis.compare`."""

from rl_harness.analysis.compare import main

if __name__ == "__main__":
    main()
