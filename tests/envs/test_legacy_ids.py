"""The envs install as `rl_harness.envs` (no top-level `envs` package), and what runs recorded
under the old name still loads (rl_harness/common/legacy_envs.py)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import rl_harness.envs
from rl_harness.envs.inventory import InventoryEnv

import rl_harness  # noqa: F401 - installs the hook

ROOT = Path(__file__).resolve().parents[2]

# What earlier runs recorded: the env id, the vectorized env and the optimum of
# conf/env/custom.yaml, a registration's entry point.
OLD_NAMES = textwrap.dedent("""
    import sys, gymnasium as gym, rl_harness
    from rl_harness.build.registry import import_path
    from rl_harness.envs.inventory import InventoryEnv
    assert isinstance(gym.make("envs:Inventory-v0").unwrapped, InventoryEnv)
    gym.register(id="OldInventory-v0", entry_point="envs.inventory:InventoryEnv")
    assert type(gym.make("OldInventory-v0", horizon=3).unwrapped) is InventoryEnv
    assert import_path("envs.inventory_vec:InventoryVecEnv").__module__ == "rl_harness.envs.inventory_vec"
    assert import_path("envs.inventory_dp:optimal_return")(horizon=3) > 0
    import envs, envs.inventory
    assert envs is rl_harness.envs and envs.inventory is sys.modules["rl_harness.envs.inventory"]
    print("ok")
""")  # noqa: E501


def run_old_names(cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", OLD_NAMES], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_old_ids_and_entry_points_load_outside_and_inside_the_checkout(tmp_path: Path) -> None:
    # outside: no `envs` on sys.path at all; inside: the checkout's envs/ folder is on it (cwd)
    for cwd in (tmp_path, ROOT):
        proc = run_old_names(cwd)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", (cwd, proc.stderr[-2000:])


def test_a_checkpoint_pickled_under_the_old_name_unpickles() -> None:
    # a pickled env refers to its class by module and name (protocol 0: as text lines)
    old = pickle.dumps(InventoryEnv, protocol=0).replace(b"rl_harness.envs.", b"envs.")
    assert b"\nInventoryEnv\n" in old and b"rl_harness" not in old
    assert pickle.loads(old) is InventoryEnv


def test_another_projects_envs_package_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "__init__.py").write_text("OWNER = 'someone else'\n")
    probe = "import rl_harness, envs; print(envs.OWNER)"
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "someone else"


def test_the_shipped_configs_name_the_installed_package() -> None:
    for name in ("custom", "custom_continuous"):
        text = (ROOT / "conf" / "env" / f"{name}.yaml").read_text()
        assert "id: rl_harness.envs:Inventory-v0" in text
        assert "\nvectorized: rl_harness.envs." in text and "\noptimum: rl_harness.envs." in text
    assert gym.spec("Inventory-v0").entry_point == "rl_harness.envs.inventory:InventoryEnv"
    assert rl_harness.envs.INVENTORY_ID == "Inventory-v0"
