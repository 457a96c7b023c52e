"""Custom Gymnasium environments of the harness; importing the package registers their ids."""

from __future__ import annotations

import gymnasium
from rl_harness.envs.inventory import InventoryEnv

__all__ = ["InventoryEnv", "INVENTORY_ID"]

INVENTORY_ID = "Inventory-v0"

if INVENTORY_ID not in gymnasium.registry:
    # The env truncates itself at `horizon`, so no TimeLimit wrapper is added.
    gymnasium.register(
        id=INVENTORY_ID,
        entry_point="rl_harness.envs.inventory:InventoryEnv",
        max_episode_steps=None,
    )
