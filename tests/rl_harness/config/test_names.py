"""The names the harness gives runs, and which runs count as seeds of one configuration."""

from __future__ import annotations

from rl_harness.config import names
from tests.conftest import compose_config


def test_run_name_says_algo_env_and_seed() -> None:
    cfg = compose_config(["algo=dqn", "env=custom", "seed=7"])
    assert names.run_name(cfg) == "dqn-Inventory-v0-s7"
    assert names.run_name(compose_config(["algo=a2c", "env.id=Acrobot-v1"])) == (
        "a2c-Acrobot-v1-s0"
    )


def test_seeds_of_one_configuration_share_a_group_and_other_values_do_not() -> None:
    group = names.seed_group(compose_config(["algo=ppo", "seed=0"]))
    same = [
        ["algo=ppo", "seed=5"],
        ["algo=ppo", "seed=1", "mlflow.run_name=x", "progress_bar=true", "checkpoint.freq=7"],
        ["algo=ppo", "torch_threads=2", "vec_env=subproc", "++mlflow.tags.group=a"],
    ]
    for overrides in same:
        assert names.seed_group(compose_config(overrides)) == group, overrides
    other = [["algo=ppo", "algo.learning_rate=0.1"], ["algo=ppo", "n_timesteps=5"], ["algo=a2c"]]
    groups = {names.seed_group(compose_config(o)) for o in other}
    assert group not in groups and len(groups) == len(other)
    assert group.startswith("ppo-CartPole-v1-") and len(group.rsplit("-", 1)[1]) == 8
