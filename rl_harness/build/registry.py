"""Name → algorithm class registry and the signature-based key check.

Adding an algorithm is one line here plus one YAML file in `conf/algo/`. Classes are imported
lazily so that `--help` and config errors stay fast.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from rl_harness.errors import ConfigError

REGISTRY: dict[str, str] = {
    "a2c": "stable_baselines3:A2C",
    "ddpg": "stable_baselines3:DDPG",
    "dqn": "stable_baselines3:DQN",
    "ppo": "stable_baselines3:PPO",
    "sac": "stable_baselines3:SAC",
    "td3": "stable_baselines3:TD3",
    "ars": "sb3_contrib:ARS",
    "crossq": "sb3_contrib:CrossQ",
    "maskable_ppo": "sb3_contrib:MaskablePPO",
    "qrdqn": "sb3_contrib:QRDQN",
    "recurrent_ppo": "sb3_contrib:RecurrentPPO",
    "tqc": "sb3_contrib:TQC",
    "trpo": "sb3_contrib:TRPO",
    "qlearning": "rl_harness.agents.qlearning:QLearning",
}

# Constructor arguments the harness sets itself from top-level config keys.
HARNESS_ARGS: dict[str, str] = {
    "env": "env=",
    "seed": "seed=",
    "device": "device=",
    "verbose": "verbose=",
    "tensorboard_log": "MLflow (tensorboard logging is not used)",
    "_init_setup_model": "nothing (internal to SB3)",
}


def import_path(path: str) -> Any:
    """Resolve 'package.module:attr' (or 'package.module.attr') without eval."""
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import '{path}': {e}") from None


def get_class(name: str) -> Any:
    """The algorithm class for a registry name."""
    if name not in REGISTRY:
        raise ConfigError(
            f"unknown algorithm '{name}'{_suggest(name, REGISTRY)}; "
            f"choose one of: {', '.join(sorted(REGISTRY))}"
        )
    return import_path(REGISTRY[name])


def accepted_keys(cls: Any) -> dict[str, inspect.Parameter]:
    """Constructor parameters a user may set under `algo.`, read from the class signature."""
    params = inspect.signature(cls.__init__).parameters
    return {
        k: p
        for k, p in params.items()
        if k != "self" and k not in HARNESS_ARGS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def check_keys(name: str, cls: type, keys: list[str]) -> None:
    """Reject keys the class does not accept, naming the key and the accepted ones."""
    accepted = accepted_keys(cls)
    for key in keys:
        if key in HARNESS_ARGS:
            raise ConfigError(f"algo.{key} is set by the harness; use {HARNESS_ARGS[key]} instead")
        if key not in accepted:
            raise ConfigError(
                f"unknown hyperparameter algo.{key} for {name}{_suggest(key, accepted)}; "
                f"accepted: {', '.join(sorted(accepted))}"
            )


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
