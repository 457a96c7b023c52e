"""Hydra sweeper `optuna_rl`: drives Optuna (4 or 5) with pruning; see rl_harness.tuning.sweep."""
