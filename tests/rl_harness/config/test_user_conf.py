"""The user config directory ($RL_HARNESS_CONFIG_DIR): searched by every run before the shipped
configs, so a champion promoted from an installed package is what later runs compose."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rl_harness.config import preflight
from tests.conftest import compose_config


def test_a_file_in_the_user_config_dir_replaces_the_shipped_one(tmp_path: Path) -> None:
    user = preflight.user_conf_dir()
    assert user == tmp_path / "user_conf"  # tests/conftest.py sets RL_HARNESS_CONFIG_DIR
    shipped = compose_config(["algo=ppo", "env=cartpole"]).algo.learning_rate
    (user / "hparams").mkdir(parents=True)
    (user / "hparams" / "ppo_cartpole.yaml").write_text(
        "# @package _global_\nalgo:\n  learning_rate: 0.000123\n"
    )
    assert compose_config(["algo=ppo", "env=cartpole"]).algo.learning_rate == 0.000123 != shipped
    assert compose_config(["algo=ppo", "env=acrobot"]).algo.name == "ppo"  # the rest as shipped


def test_other_hydra_apps_do_not_search_it(tmp_path: Path) -> None:
    (preflight.user_conf_dir() / "hparams").mkdir(parents=True)
    (preflight.user_conf_dir() / "other.yaml").write_text("from_user: true\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "other.yaml").write_text("from_app: true\n")
    with initialize_config_dir(config_dir=str(app), version_base="1.3"):
        assert "from_user" not in compose("other")


def test_the_default_is_xdg_config_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(preflight.USER_CONF_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert preflight.user_conf_dir() == tmp_path / "xdg" / "rl_harness"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert preflight.user_conf_dir() == Path.home() / ".config" / "rl_harness"


def test_installed_means_inside_site_packages(tmp_path: Path) -> None:
    assert not preflight.installed(preflight.CONF_DIR)  # this checkout
    assert preflight.installed(tmp_path / "lib/python3.11/site-packages/rl_harness/conf")
    assert not preflight.installed(tmp_path / "project" / "conf")
