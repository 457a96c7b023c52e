"""Sweep spaces that do what they say: a space file may be the whole space (`_whole_: true`), an
entry on the command line replaces the entry of that name whatever its type, and every space
mistake is one line, exit code 2, before any trial runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rl_harness.config import commands, preflight
from rl_harness.errors import ConfigError
from rl_harness.tuning import space as spaces
from tests.conftest import compose_config

MERGED = {
    "_whole_": True,
    "n_envs": {"type": "categorical", "choices": [1, 2]},
    "algo": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
        "gamma": {"type": "categorical", "choices": [0.98, 0.99]},
        "n_epochs": {"type": "int", "low": 1, "high": 3},
    },
}
FILE = {"_whole_": True, "algo": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3}}}


def test_a_whole_space_file_keeps_only_its_entries_and_the_command_lines() -> None:
    kept = spaces.whole_space(MERGED, [FILE], ["algo.n_epochs"])
    assert kept == {"algo": {"learning_rate": MERGED["algo"]["learning_rate"],
                             "n_epochs": MERGED["algo"]["n_epochs"]}}  # fmt: skip
    # a key under an entry (`algo.gamma.choices=[...]`) keeps that entry
    assert "gamma" in spaces.whole_space(MERGED, [FILE], ["algo.gamma.choices"])["algo"]


def test_without_whole_the_merge_is_the_space() -> None:
    merged = {k: v for k, v in MERGED.items() if k != "_whole_"}
    assert spaces.whole_space(merged, [FILE], []) == merged
    assert spaces.whole_space({**merged, "_whole_": False}, [], []) == merged
    params = spaces.parse_space(OmegaConf.create(MERGED), compose_config(["algo=ppo"]))
    assert {p.path for p in params} == {"n_envs", "algo.learning_rate", "algo.gamma",
                                        "algo.n_epochs"}  # fmt: skip


def test_whole_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"_whole_: must be true .* or false .*got 'yes'"):
        spaces.whole_space({**MERGED, "_whole_": "yes"}, [], [])


def test_a_command_line_entry_replaces_the_entry_whatever_its_type() -> None:
    gamma = "hydra.sweeper.space.algo.gamma={type: float, low: 0.9, high: 0.999}"
    for given in (gamma, "+" + gamma, "++" + gamma):
        checked = commands.checked_argv("config", ["sweep=ppo", "env=cartpole", given])
        cfg = commands.compose("config", checked, hydra=True)
        entry = OmegaConf.to_container(cfg.hydra.sweeper.space.algo.gamma)
        assert entry == {"type": "float", "low": 0.9, "high": 0.999}, given
    # a key of an entry, or a new entry, is added where the YAML lacks it
    checked = commands.checked_argv(
        "config",
        ["sweep=ppo", "hydra.sweeper.space.algo.vf_coef={type: float, low: 0.2, high: 1}"],
    )
    assert commands.compose("config", checked, hydra=True).hydra.sweeper.space.algo.vf_coef.low


def run_sweep(args: list[str], cwd: Path, conf: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, preflight.USER_CONF_ENV: str(conf)}
    tiny = [
        "n_timesteps=256", "eval.freq=0", "checkpoint.freq=0", "eval.final.episodes=2",
        "eval.final.max_episodes=2", "eval.final.precision=0", "mlflow.enabled=false",
        "hydra.sweeper.n_trials=1", "hydra.sweeper.validate.top=0",
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "rl_harness", "sweep=ppo", "env=cartpole", *tiny, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_whole_space_file_is_searched_alone_and_mistakes_are_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "my_conf"
    (conf / "sweep" / "env").mkdir(parents=True)
    (conf / "sweep" / "env" / "ppo_cartpole.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    space:\n      _whole_: true\n"
        "      algo:\n        gamma: {type: categorical, choices: [0.98, 0.99]}\n"
    )
    proc = run_sweep(
        [
            "hydra.sweeper.space.algo.n_epochs={type: int, low: 1, high: 3}",
            "hydra.sweeper.study_name=whole",
        ],  # fmt: skip
        tmp_path,
        conf,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    params = OmegaConf.load(tmp_path / "sweeps" / "whole" / "best_hparams.yaml")
    header = next(line for line in proc.stdout.splitlines() if line.startswith("#   state"))
    assert header.split()[-2:] == ["n_epochs", "gamma"], header  # 2 searched, not ppo.yaml's 10
    assert params.algo.n_epochs in (1, 2, 3)
    for mistake, says in (
        ("hydra.sweeper.space.algo.gama={type: int, low: 1, high: 3}", "unknown hyperparameter"),
        ("hydra.sweeper.space.algo.gamma.low=0.9", "unknown key(s) low for type categorical"),
        ("hydra.sweeper.space._whole_=maybe", "_whole_: must be true"),
        ("hydra.sweeper.space.algo.gamma={type: float, low: 1, high: 0.9}", "low (1) > high"),
    ):
        proc = run_sweep([mistake, "hydra.sweeper.study_name=bad"], tmp_path, conf)
        assert proc.returncode == 2, (mistake, proc.stderr[-2000:])
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith("rl_harness: error: hydra.sweeper.space.") and says in line, line


def test_hydras_own_space_failures_and_a_space_without_a_sweep_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"'hydra.sweeper.space.algo.nope' does not exist"):
        commands.checked_argv("config", ["sweep=ppo", "~hydra.sweeper.space.algo.nope"])
    with pytest.raises(ConfigError, match=r"searched only in a sweep; add sweep=<name>"):
        commands.checked_argv("config", ["hydra.sweeper.space.algo.gamma={type: int}"])
    checked = commands.checked_argv("config", ["sweep=ppo", "~hydra.sweeper.space.algo.gamma"])
    space = commands.compose("config", checked, hydra=True).hydra.sweeper.space.algo
    assert "gamma" not in space and "n_epochs" in space
