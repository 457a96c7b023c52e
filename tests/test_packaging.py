"""Installed (not only cloned) use: the wheel carries the shipped configs, and a user's own
project trains from outside the repository with its own config directory and its own env,
from the command line and from the Python API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_ENV = '''
"""A user's own environment: walk right along a corridor to its end."""
import gymnasium as gym


class Corridor(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, length=8, render_mode=None):
        self.length = length
        self.observation_space = gym.spaces.Discrete(length)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return self.pos, {}

    def step(self, action):
        self.pos = min(max(self.pos + (1 if action == 1 else -1), 0), self.length - 1)
        done = self.pos == self.length - 1
        return self.pos, (1.0 if done else -0.01), done, False, {}
'''


def listed_packages() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(pyproject["tool"]["setuptools"]["packages"])


def test_every_package_and_config_group_is_listed_for_the_wheel() -> None:
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("rl_harness", "hydra_plugins")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    found.add("rl_harness.envs")  # envs/, installed under the harness's name
    groups = {
        "rl_harness." + ".".join(d.relative_to(ROOT).parts) for d in (ROOT / "conf").rglob("*")
    }
    groups = {
        g for g in groups if (ROOT / g.removeprefix("rl_harness.").replace(".", "/")).is_dir()
    }
    namespaces = {"hydra_plugins", "rl_harness.conf"}  # no __init__.py
    assert listed_packages() == found | namespaces | groups


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the built wheel; the dependencies are seen through a .pth file
    (the dev venv's site-packages, whose editable install of this checkout is not loaded)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp / "dist")],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = (tmp / "dist").glob("rl_harness-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    (Path(site) / "dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A project of the user's, outside the repository: its package registers its env, its
    config directory names it."""
    project = tmp_path / "my_project"
    (project / "my_pkg").mkdir(parents=True)
    (project / "my_pkg" / "corridor.py").write_text(USER_ENV)
    (project / "my_pkg" / "__init__.py").write_text(
        "import gymnasium as gym\n\n"
        'gym.register(id="Corridor-v0", entry_point="my_pkg.corridor:Corridor", '
        "max_episode_steps=50)\n"
    )
    (project / "my_conf" / "env").mkdir(parents=True)
    (project / "my_conf" / "env" / "corridor.yaml").write_text(
        "# `module:EnvId`: importing my_pkg registers Corridor-v0\n"
        "id: my_pkg:Corridor-v0\nkwargs: {length: 8}\n"
    )
    return project


def test_the_wheel_installs_no_top_level_envs(installed: Path, tmp_path: Path) -> None:
    """envs/ ships as rl_harness.envs (with its spec); ids recorded as `envs:...` still load."""
    [wheel] = (installed.parents[2] / "dist").glob("rl_harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "envs" not in tops and not any(n.startswith("envs") for n in tops), sorted(tops)
    assert {"rl_harness/envs/__init__.py", "rl_harness/envs/inventory_spec.md"} <= set(names)
    probe = textwrap.dedent("""
        import gymnasium as gym, rl_harness
        from rl_harness.envs.inventory import InventoryEnv
        assert isinstance(gym.make("rl_harness.envs:Inventory-v0").unwrapped, InventoryEnv)
        assert isinstance(gym.make("envs:Inventory-v0").unwrapped, InventoryEnv)
        gym.register(id="Old-v0", entry_point="envs.inventory:InventoryEnv")
        assert type(gym.make("Old-v0").unwrapped) is InventoryEnv
        print(InventoryEnv.__module__, rl_harness.__file__)
    """)
    proc = run_in(tmp_path, installed, "-c", probe)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("rl_harness.envs.inventory ")
    assert str(installed.parents[1]) in proc.stdout  # the wheel's copy, not the checkout


def run_in(project: Path, python: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(project)  # the user's own package
    return subprocess.run(
        [str(python), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow  # ~20 s of processes; CI's full suite runs it
def test_the_wheel_trains_a_user_env_from_a_user_config_dir(
    installed: Path, user_project: Path
) -> None:
    where = run_in(
        user_project,
        installed,
        "-c",
        "import rl_harness, hydra_plugins.rl_harness_sweeper as s; "
        "from rl_harness.config.preflight import CONF_DIR; "
        "print(rl_harness.__file__, CONF_DIR, sorted(p.name for p in CONF_DIR.iterdir())); "
        "from rl_harness.tuning.champion import target; "
        "print('promotes to', target(None, 'ppo_cartpole'))",
    )
    assert where.returncode == 0, where.stderr[-2000:]
    user = Path(os.environ["RL_HARNESS_CONFIG_DIR"])  # never into the installed package
    assert f"promotes to {user / 'hparams' / 'ppo_cartpole.yaml'}" in where.stdout
    assert str(installed.parents[1]) in where.stdout  # the wheel's copy, not the checkout
    assert str(ROOT) not in where.stdout and "'config.yaml'" in where.stdout
    budget = ["n_timesteps=3000", "eval.freq=0", "checkpoint.freq=0", "progress_bar=false"]
    proc = run_in(
        user_project,
        installed,
        "-m", "rl_harness", "algo=qlearning", "env=corridor",
        f"hydra.searchpath=[file://{user_project / 'my_conf'}]", *budget,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| eval " in proc.stdout and "_qlearning_Corridor-v0/model.zip" in proc.stdout
    assert re.search(r"^run [0-9a-f]{32} \| eval", proc.stdout, re.M)  # recorded in MLflow
    api = run_in(
        user_project,
        installed,
        "-c",
        textwrap.dedent(f"""
            from rl_harness.api import train
            r = train("qlearning", "corridor", {budget!r}, config_dir="my_conf")
            assert r.model_path.exists() and r.episodes == 30, r
            print("api", r.run_id, round(r.mean_reward, 2))
        """),
    )
    assert api.returncode == 0, api.stderr[-3000:]
    assert api.stdout.splitlines()[-1].startswith("api ")
    typo = run_in(
        user_project,
        installed,
        "-m", "rl_harness", "algo=qlearning", "env=corridr",
        f"hydra.searchpath=[file://{user_project / 'my_conf'}]",
    )  # fmt: skip
    assert typo.returncode == 2
    assert "unknown env 'corridr' (did you mean 'corridor'?)" in typo.stderr
