"""A project of one's own: its config directory set once (pyproject.toml's `[tool.rl_harness]` or
$RL_HARNESS_CONFIG_DIR), unknown names listing the directories searched, and each run recording
the user's own code version (their repository's commit, the env's distribution)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rl_harness.common import provenance
from rl_harness.config import preflight
from rl_harness.errors import ConfigError
from tests.git_repos import git

ENV = '''
import gymnasium as gym
import numpy as np


class Thermostat(gym.Env):
    """Keep a temperature at 0: push it down, leave it, push it up; 10 steps."""

    observation_space = gym.spaces.Box(-20.0, 20.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, np.array([self.np_random.uniform(-3, 3)], np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.t += 1
        self.x = np.clip(self.x + (int(action) - 1), -20, 20).astype(np.float32)
        return self.x.copy(), -abs(float(self.x[0])), False, self.t >= 10, {}
'''
ENV_CONFIG = """\
id: thermo_pkg:Thermostat-v0
kwargs: {}
wrappers: []
normalize: false
frame_stack: null
vectorized: null
optimum: null
"""
TINY = [
    "n_timesteps=256", "eval.freq=0", "checkpoint.freq=0", "progress_bar=false",
    "eval.final.episodes=2", "eval.final.max_episodes=2", "eval.final.precision=0",
    "algo.n_steps=64", "algo.batch_size=64", "algo.n_epochs=1",
]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """my_project/: a pyproject.toml naming its conf/, an env config, the env's package (an
    installed-looking distribution `thermo-pkg` 0.3.1), committed in its own git repository."""
    root = tmp_path / "my_project"
    pkg = root / "thermo_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        'import gymnasium as gym\n\ngym.register("Thermostat-v0", "thermo_pkg.env:Thermostat")\n'
    )
    (pkg / "env.py").write_text(textwrap.dedent(ENV))
    info = root / "thermo_pkg-0.3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thermo-pkg\nVersion: 0.3.1\n")
    (info / "top_level.txt").write_text("thermo_pkg\n")
    (root / "conf" / "env").mkdir(parents=True)
    (root / "conf" / "env" / "thermostat.yaml").write_text(ENV_CONFIG)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "my-project"\n\n[tool.rl_harness]\nconfig_dir = "conf"\n'
    )
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    return root


def harness(args: list[str], cwd: Path, project: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project)}
    env.pop(preflight.USER_CONF_ENV, None)
    env["XDG_CONFIG_HOME"] = str(cwd / "no-xdg")  # no machine-wide user configs
    return subprocess.run(
        [sys.executable, "-m", "rl_harness", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_project_file_is_found_from_any_directory_below_it(project: Path) -> None:
    below = project / "thermo_pkg"
    assert preflight.project_conf_dir(below) == project / "conf"
    assert preflight.project_conf_dir(project.parent) is None


def test_a_project_file_without_config_dir_says_what_to_write(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.rl_harness]\nconfig = 'conf'\n")
    with pytest.raises(ConfigError, match=r'needs config_dir = "<directory>"'):
        preflight.project_conf_dir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.rl_harness]\nconfig_dir = 'nope'\n")
    with pytest.raises(ConfigError, match="nope is not a directory"):
        preflight.project_conf_dir(tmp_path)


def test_the_env_variable_comes_first_then_the_project(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.delenv(preflight.USER_CONF_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "rl_harness").mkdir(parents=True)
    assert preflight.config_dirs() == [project / "conf", tmp_path / "xdg" / "rl_harness"]
    own = tmp_path / "own"
    own.mkdir()
    monkeypatch.setenv(preflight.USER_CONF_ENV, str(own))
    assert preflight.config_dirs() == [own, project / "conf"]


def test_an_unknown_env_names_the_directories_searched(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with pytest.raises(ConfigError) as e:
        preflight.preflight(["env=thermostatt"])
    message = str(e.value)
    assert "(did you mean 'thermostat'?)" in message and "\n" not in message
    assert f"searched env/ in: {project / 'conf'}, {preflight.CONF_DIR} (shipped)" in message
    monkeypatch.chdir(project.parent)  # outside the project: where to declare one
    with pytest.raises(ConfigError, match=r"\[tool.rl_harness\] config_dir in your pyproject"):
        preflight.preflight(["algo=ppo", "env=thermostat"])


def test_user_code_names_the_working_repository_and_the_env_distribution(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(project))
    tags = provenance.user_code("thermo_pkg:Thermostat-v0", project / "conf")
    assert tags[provenance.USER_COMMIT_TAG] == git(project, "rev-parse", "HEAD").strip()
    assert tags[provenance.USER_DIRTY_TAG] == "false"
    assert tags[provenance.ENV_PACKAGE_TAG] == "thermo-pkg"
    assert tags[provenance.ENV_VERSION_TAG] == "0.3.1"
    # the harness's own checkout is recorded as the harness's commit, not as the user's
    assert provenance.USER_COMMIT_TAG not in provenance.user_code("CartPole-v1", Path.cwd())
    harness_tags = provenance.user_code("CartPole-v1", provenance.HARNESS_DIR)
    assert provenance.USER_COMMIT_TAG not in harness_tags
    assert harness_tags[provenance.ENV_PACKAGE_TAG] == "gymnasium"


def test_a_run_from_the_project_needs_no_searchpath_and_records_the_users_code(
    project: Path,
) -> None:
    work = project / "runs"
    work.mkdir()
    (project / "notes.txt").write_text("uncommitted\n")  # the user's repository is dirty
    proc = harness(["algo=ppo", "env=thermostat", *TINY], work, project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = re.search(r"^run ([0-9a-f]{32}) \|", proc.stdout + proc.stderr, re.M).group(1)
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(run_id).data.tags
    assert tags[provenance.USER_COMMIT_TAG] == git(project, "rev-parse", "HEAD").strip()
    assert tags[provenance.USER_DIRTY_TAG] == "true"
    assert tags[provenance.USER_REPO_TAG] == str(project.resolve())
    assert (tags[provenance.ENV_PACKAGE_TAG], tags[provenance.ENV_VERSION_TAG]) == (
        "thermo-pkg",
        "0.3.1",
    )
    assert tags[provenance.COMMIT_TAG] != tags[provenance.USER_COMMIT_TAG]  # the harness's


def test_outside_the_project_the_name_is_unknown_in_one_line(project: Path) -> None:
    proc = harness(["algo=ppo", "env=thermostat"], project.parent, project)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("rl_harness: error: unknown env 'thermostat'") and "searched" in line
