"""rl-harness: Hydra configs → SB3 model → training → MLflow run → evaluate, compare, serve.

The package's layers, lowest first; a module imports only from its own package and from the
layers below it (tests/test_layers.py checks this on every CI run):

    errors                      one exception tree, one-line CLI errors
    common/                     no harness imports: space codec, statistics, tables, processes,
                                liveness (one heartbeat thread per process), plots, observation
                                normalizer, wrapped private APIs (compat), what a run ran on
                                (provenance), the old `envs` names (legacy_envs)
    config/                     command-line preflight, composing configs, their value
                                rules (training's too), output_dir and to_plain (runtime)
    agents/                     our own algorithms (tabular Q-learning) and their helpers
    build/                      algorithm registry, env and model construction from a config,
                                the task's optimum (optimum: torch-free)
    envs/ (rl_harness.envs)     the custom envs, from the repository's top-level envs/ folder
    tracking/                   MLflow: store (no MLflow import), recorder protocol, runs,
                                background helper, SB3 logger output
    training/                   the one training path, the closing evaluation (closing, also
                                evaluate's), starting training (launch), callbacks,
                                checkpoints, resume and rerun look-ups, saved agents,
                                recording tasks (policy model, learning curve)
    analysis/ tuning/ deploy/   evaluate, compare, rerun; Optuna sweeps (tuning.scheduler, with
                                no Hydra); serving & ONNX export
    entry points                python -m rl_harness[.evaluate|.compare|.runs|.serving|.export],
                                the Hydra sweeper plugin (hydra_plugins/)
"""

import os as _os

from rl_harness.common import legacy_envs as _legacy_envs

# The harness records to the user's own store and nowhere else: MLflow 3 sends usage telemetry
# unless told not to, and reads this once, on its first import, wherever that happens (set
# MLFLOW_DISABLE_TELEMETRY=false to allow it).
_os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# The custom envs install as rl_harness.envs; ids, entry points and pickles that runs recorded
# as `envs...` still load (no top-level `envs` package is installed: common/legacy_envs.py).
_legacy_envs.install()


def __getattr__(name: str) -> object:
    """`rl_harness.train(...)`: the Python API (rl_harness.api), loaded on first use."""
    if name == "train":
        from rl_harness.api import train

        return train
    raise AttributeError(f"module 'rl_harness' has no attribute {name!r}")
