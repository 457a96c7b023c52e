"""Hydra sweeper `optuna_rl` (Optuna 4 or 5, with pruning) over rl_harness.tuning.scheduler."""
