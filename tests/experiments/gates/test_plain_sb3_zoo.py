"""The plain-SB3 controls train what the shipped configs train: their hand-written RL Zoo
hyperparameters agree with conf/hparams/ value for value, so a control's miss speaks for the
config, not for a typo in the control."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from experiments.gates import plain_sb3_zoo as plain
from rl_harness.config.preflight import CONF_DIR


def shipped(key: str) -> dict[str, Any]:
    algo, env = key.split("/")
    return yaml.safe_load((CONF_DIR / "hparams" / f"{algo}_{env}.yaml").read_text())


def same(ours: Any, control: Any) -> bool:
    """A linear schedule to 0 (ours: a dict) equals the control's callable at every progress."""
    if isinstance(ours, dict) and ours.get("schedule") == "linear" and callable(control):
        assert ours["end"] == 0.0
        return all(control(p) == pytest.approx(ours["start"] * p) for p in (1.0, 0.5, 0.0))
    return bool(ours == control)


@pytest.mark.parametrize("key", sorted(plain.PAIRS))
def test_a_control_trains_the_shipped_configs_hyperparameters(key: str) -> None:
    config, pair = shipped(key), plain.PAIRS[key]
    assert config.get("n_envs", 1) == pair.n_envs
    assert config["n_timesteps"] == pair.steps
    assert config.get("env", {}).get("normalize", {}).get("norm_obs", False) == pair.norm_obs
    algo = {k: v for k, v in config["algo"].items() if k != "policy"}
    assert config["algo"]["policy"] == "MlpPolicy"
    assert sorted(algo) == sorted(pair.kwargs)
    for name, value in algo.items():
        assert same(value, pair.kwargs[name]), name


def test_a_control_is_scored_against_a_pair_the_gate_lists() -> None:
    from experiments.gates.zoo_pairs import ZOO_SCORES

    assert {tuple(k.split("/")) for k in plain.PAIRS} <= set(ZOO_SCORES)
