"""The user's config directories (rl_harness.config.preflight.config_dirs: $RL_HARNESS_CONFIG_DIR,
the project's `[tool.rl_harness] config_dir` in its pyproject.toml, ~/.config/rl_harness) join
Hydra's search path before rl_harness's shipped configs, where they exist: their files add
options to any group and replace shipped ones of the same name (a champion promoted from an
installed package). Other Hydra applications are left as they are.
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class RLHarnessUserConfig(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from rl_harness.config.preflight import CONF_DIR, config_dirs

        try:
            dirs = config_dirs()
        except ValueError:  # an unreadable project file: the pre-flight says so in one line
            return
        if not dirs:
            return
        for element in search_path.get_path():
            if element.provider == "main" and _is(element.path, CONF_DIR):
                for user in dirs:  # each before the shipped configs, in search order
                    search_path.prepend("rl_harness-user", f"file://{user}", anchor="main")
                return


def _is(path: str | None, conf: Path) -> bool:
    if not path or "://" in path and not path.startswith("file://"):
        return False
    return Path(path.removeprefix("file://")).resolve() == conf.resolve()
