"""Hydra sweeper `optuna_rl`: drives Optuna (≥ 4) with pruning; see rl_harness.sweep."""
