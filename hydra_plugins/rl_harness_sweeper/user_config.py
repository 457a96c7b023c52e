"""The user's config directory (rl_harness.config.preflight.user_conf_dir) joins Hydra's search
path before rl_harness's shipped configs, where it exists: its files add options to any group
and replace shipped ones of the same name (a champion promoted from an installed package).
Other Hydra applications are left as they are.
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class RLHarnessUserConfig(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from rl_harness.config.preflight import CONF_DIR, user_conf_dir

        user = user_conf_dir()
        if not user.is_dir():
            return
        for element in search_path.get_path():
            if element.provider == "main" and _is(element.path, CONF_DIR):
                search_path.prepend("rl_harness-user", f"file://{user.resolve()}", anchor="main")
                return


def _is(path: str | None, conf: Path) -> bool:
    if not path or "://" in path and not path.startswith("file://"):
        return False
    return Path(path.removeprefix("file://")).resolve() == conf.resolve()
