"""Records written before the harness's envs moved keep loading: `envs` (the repository's
`envs/` folder, once installed as a top-level package) is `rl_harness.envs` now.

Runs recorded `env.id: envs:Inventory-v0`, `vectorized: envs.inventory_vec:InventoryVecEnv`,
`optimum: envs.inventory_dp:optimal_return`, and checkpoints pickled `envs.inventory.*`
classes. Gymnasium resolves `module:EnvId` and entry points with `importlib.import_module`, and
pickle imports the module of a class, so an import hook answers for those names: `envs` and
`envs.<module>` are the very modules of `rl_harness.envs` (no second copy, one registration).

The hook yields to a real `envs`: another project's top-level `envs` package on sys.path is
imported as usual (the name is theirs to own); a checkout's own `envs/` folder, found on
sys.path from the repository root, is the same files, so it is aliased rather than loaded twice.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LEGACY = "envs"
CURRENT = "rl_harness.envs"


class LegacyEnvs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`envs[.x]` → `rl_harness.envs[.x]`, where no other `envs` package is found."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == LEGACY:
            if _another_envs():
                return None
        elif fullname.startswith(LEGACY + "."):
            if sys.modules.get(LEGACY) is not sys.modules.get(CURRENT):
                return None  # another project's envs: its submodules are its own
        else:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(CURRENT + spec.name.removeprefix(LEGACY))

    def exec_module(self, module: ModuleType) -> None:
        """The module ran once, under its current name."""


def _another_envs() -> bool:
    """Whether sys.path holds a top-level `envs` package other than this package's files."""
    found = importlib.machinery.PathFinder.find_spec(LEGACY)
    if found is None:
        return False
    ours = importlib.util.find_spec(CURRENT)
    places = [Path(p).resolve() for p in (found.submodule_search_locations or [])]
    current = [Path(p).resolve() for p in ((ours and ours.submodule_search_locations) or [])]
    return not places or places != current


def install() -> None:
    """Put the hook first on sys.meta_path (once): it must answer `envs.x` before the path
    finder would load a second copy of the file from `rl_harness.envs.__path__`."""
    if not any(isinstance(f, LegacyEnvs) for f in sys.meta_path):
        sys.meta_path.insert(0, LegacyEnvs())
