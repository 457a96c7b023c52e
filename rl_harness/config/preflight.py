"""Command-line pre-flight: catch mistyped names on the command line before Hydra composes.

Hydra's own messages for these are several lines long and do not name the accepted values of
our keys; here each becomes one line. Every command's config is checked the same way
(`preflight(argv, "evaluate")`, ...; see `config.commands`); only the training config
(`config`) has groups and free-form keys. There, hyperparameter overrides (`algo.<kwarg>=`,
and `env.kwargs.<kwarg>=`) may name any constructor argument, also one the YAML does not
list, so they are turned into Hydra's add-or-override form (`++`); the signature check in
`train.validate` then judges them, and `+key=` may add a key. The other commands' configs are
closed: every key must exist.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rl_harness.errors import ConfigError

# The shipped configs: `conf/` beside the package in a checkout (editable installs too), the
# package data `rl_harness/conf/` in an installed wheel.
_CHECKOUT_CONF = Path(__file__).resolve().parents[2] / "conf"
_INSTALLED_CONF = Path(__file__).resolve().parents[1] / "conf"
CONF_DIR = _CHECKOUT_CONF if (_CHECKOUT_CONF / "config.yaml").is_file() else _INSTALLED_CONF
# The user's own config directory, searched before the shipped one where it exists (the Hydra
# search-path plugin in hydra_plugins/rl_harness_sweeper/user_config.py): a champion promoted
# from an installed package goes there, never into the package.
USER_CONF_ENV = "RL_HARNESS_CONFIG_DIR"


# A project's own config directory, set once in its pyproject.toml (found from the working
# directory upward):  [tool.rl_harness]  config_dir = "conf"  (relative to that file).
PROJECT_FILE = "pyproject.toml"


def user_conf_dir() -> Path:
    """$RL_HARNESS_CONFIG_DIR, else $XDG_CONFIG_HOME/rl_harness (~/.config/rl_harness)."""
    if own := os.environ.get(USER_CONF_ENV):
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(xdg) / "rl_harness"


def project_conf_dir(start: Path | None = None) -> Path | None:
    """`[tool.rl_harness] config_dir` of the nearest pyproject.toml from `start` (the working
    directory) upward that has a `[tool.rl_harness]` table; None where none has one."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        path = folder / PROJECT_FILE
        if not path.is_file():
            continue
        try:
            table = tomllib.loads(path.read_text()).get("tool", {}).get("rl_harness")
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: cannot read it: {e}") from None
        if table is None:
            continue
        conf = table.get("config_dir") if isinstance(table, dict) else None
        if not isinstance(conf, str) or not conf:
            raise ConfigError(
                f'{path}: [tool.rl_harness] needs config_dir = "<directory>" (relative to it)'
            )
        found = (folder / conf).expanduser().resolve()
        if not found.is_dir():
            raise ConfigError(f"{path}: [tool.rl_harness] config_dir {found} is not a directory")
        return found
    return None


def config_dirs() -> list[Path]:
    """The user's config directories every run searches before the shipped ones, first wins:
    $RL_HARNESS_CONFIG_DIR (where set), the project's (`project_conf_dir`), then
    ~/.config/rl_harness (where $RL_HARNESS_CONFIG_DIR is not set). Only those that exist."""
    project = project_conf_dir()
    explicit = USER_CONF_ENV in os.environ and bool(os.environ[USER_CONF_ENV])
    order = [user_conf_dir(), project] if explicit else [project, user_conf_dir()]
    out: list[Path] = []
    for d in order:
        if d is not None and d.is_dir() and d.resolve() not in out:
            out.append(d.resolve())
    return out


def searched(extra: Sequence[Path] = ()) -> str:
    """The config directories a name was looked up in, in search order: for a message."""
    dirs = [*(Path(d).resolve() for d in extra), *config_dirs()]
    unique = [str(d) for i, d in enumerate(dirs) if d not in dirs[:i]]
    hint = (
        f" (add yours: [tool.rl_harness] config_dir in your {PROJECT_FILE}, or {USER_CONF_ENV})"
        if not unique
        else ""
    )
    return ", ".join([*unique, f"{CONF_DIR} (shipped)"]) + hint


def installed(conf: Path = CONF_DIR) -> bool:
    """Whether `conf` is an installed package's (a wheel's, in site-packages), which nothing
    writes into; a source checkout's `conf/` is the project's own."""
    return conf.resolve() == _INSTALLED_CONF or bool(
        {"site-packages", "dist-packages"} & set(conf.resolve().parts)
    )


TRAINING = "config"  # the training config; the other commands' configs sit beside it
FREE_FORM = ("algo.", "env.kwargs.", "mlflow.tags")
# `rerun=<run id>` is short for `rerun.id=<run id>` (beside `rerun.allow_drift=`); the id is
# quoted, so that one of digits only (or digits and one `e`) stays a string.
SHORTHANDS = {"rerun": "rerun.id"}
# Keys whose value is taken as written, quoted for Hydra: `tag=group=baseline` (runs) would not
# parse otherwise.
AS_WRITTEN = {"runs": ("tag",)}
# Hydra flags followed by a value (--cfg job, --config-name NAME, ...): passed through.
VALUE_FLAGS = (
    "--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
    "--config-dir", "-cd", "--info", "--experimental-rerun",
)  # fmt: skip


def group_options(group: str, extra: Sequence[Path] = ()) -> list[str]:
    """The options of a config group: the shipped ones and those in `extra` config dirs."""
    return sorted({p.stem for d in (CONF_DIR, *extra) for p in (d / group).glob("*.yaml")})


def search_path(dirs: Sequence[Path]) -> str:
    """The override that adds config directories to Hydra's search path."""
    return "hydra.searchpath=[" + ",".join(f"file://{Path(d).resolve()}" for d in dirs) + "]"


def _user_dirs(parser: Any, argv: list[str]) -> list[Path]:
    """The `file://` directories of a `hydra.searchpath=[...]` override, if any."""
    for arg in argv:
        if arg.startswith("hydra.searchpath="):
            value = parser.parse_override(arg).value()
            entries = value if isinstance(value, list) else [value]
            return [
                Path(str(e).removeprefix("file://"))
                for e in entries
                if "://" not in str(e) or str(e).startswith("file://")
            ]
    return []


def _groups() -> list[str]:
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir())


@dataclass(frozen=True)
class _Schema:
    """What one command's config accepts on the command line."""

    base: Any  # the YAML as loaded (DictConfig)
    groups: list[str]  # config groups (`algo=ppo`); training only
    open: bool  # `+key=` may add keys and FREE_FORM keys pass (training only)
    dirs: tuple[Path, ...] = ()  # the user's config directories (hydra.searchpath)

    @classmethod
    def of(cls, config_name: str) -> _Schema:
        path = CONF_DIR / f"{config_name}.yaml"
        if not path.is_file():
            raise ConfigError(f"no config {config_name!r} in {CONF_DIR}")
        training = config_name == TRAINING
        return cls(OmegaConf.load(path), _groups() if training else [], training)


def preflight(argv: list[str], config_name: str = TRAINING) -> list[str]:
    """Check and normalise the override arguments against conf/<config_name>.yaml; flags pass
    through unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    schema = _Schema.of(config_name)
    dirs = _user_dirs(parser, argv)
    dirs += config_dirs()  # searched by every run (hydra_plugins: user_config.py)
    if dirs:
        schema = _Schema(schema.base, schema.groups, schema.open, tuple(dirs))
    out: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next or arg.startswith("-"):  # a flag, or the value of the flag before
            skip_next = not skip_next and arg in VALUE_FLAGS
            out.append(arg)
            continue
        key, _, value = arg.partition("=")
        if key in AS_WRITTEN.get(config_name, ()) and "'" not in value:
            arg = _expanded(arg, key, sweep=False)
        if schema.open and key.lstrip("+").startswith(SPACE + "."):
            out += _space_entry(parser, arg)
            continue
        out.append(_check_override(parser, arg, schema))
    return out


SPACE = "hydra.sweeper.space"


def _space_entry(parser: Any, arg: str) -> list[str]:
    """`hydra.sweeper.space.<path>=<value>` (with or without + or ++): the entry of that name
    replaced whatever it held (a mapping: the whole entry, `{type: float, ...}` over a
    categorical one), or added; its keys and values are judged with the whole space
    (tuning.space.parse_space). `~<path>` deletes it where it exists."""
    from hydra.errors import HydraException

    try:
        override = parser.parse_override(arg)
    except HydraException as e:
        raise ConfigError(f"cannot parse override '{arg}': {str(e).splitlines()[0]}") from None
    key = override.key_or_group
    if override.is_delete() or override.is_sweep_override():
        return [arg]  # a sweep of space entries: the sweeper's own one-line refusal
    value = arg.split("=", 1)[1]
    if isinstance(override.value(), dict):
        return [f"++{key}=null", f"++{key}={value}"]
    return [f"++{key}={value}"]


def _check_override(parser: Any, arg: str, schema: _Schema) -> str:
    """One `key=value` checked; returned as Hydra should receive it."""
    from hydra.errors import HydraException

    try:
        override = parser.parse_override(arg)
    except HydraException as e:
        raise ConfigError(f"cannot parse override '{arg}': {str(e).splitlines()[0]}") from None
    key = override.key_or_group
    if schema.open and key in SHORTHANDS and not (override.is_add() or override.is_delete()):
        return _expanded(arg, SHORTHANDS[key], override.is_sweep_override())
    if key in ("hydra.run.dir", "hydra.sweep.dir") and isinstance(override.value(), str):
        _check_output_dir(override.value())  # the parsed value: a quoted path without its quotes
    if override.package is not None or key.startswith("hydra"):
        return arg
    adds = override.is_add() or override.is_force_add()
    if key in schema.groups and not override.is_delete():
        _check_group(override, key, schema.dirs)
    elif schema.open and key.startswith(FREE_FORM) and not adds:
        return "++" + arg
    elif not (schema.open and (adds or override.is_delete())):
        _check_path(schema.base, key, schema.groups, schema.open)
    return arg


def _expanded(arg: str, key: str, sweep: bool) -> str:
    """`rerun=<id>` as `rerun.id='<id>'` (a sweep or null as written)."""
    value = arg.partition("=")[2]
    if sweep or value == "null" or value[:1] in ("'", '"'):
        return f"{key}={value}"
    return f"{key}='{value}'"


def _check_group(override: Any, group: str, dirs: Sequence[Path] = ()) -> None:
    values = (
        list(override.sweep_string_iterator())
        if override.is_sweep_override()
        else [override.get_value_element_as_str()]
    )
    options = group_options(group, dirs)
    for value in values:
        if value not in options and value != "null":
            close = difflib.get_close_matches(value, options, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown {group} '{value}'{hint}; choose one of: {', '.join(options)}; "
                f"searched {group}/ in: {searched(dirs)}"
            )


def _check_output_dir(path: str) -> None:
    """Hydra creates it before our code runs and fails with a traceback; say it in one line."""
    if "${" in path:
        return
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"output directory {path} cannot be created: {e.strerror}; "
            "choose a writable hydra.run.dir"
        ) from None


def _check_path(base: Any, key: str, groups: list[str], open_config: bool = True) -> None:
    node = base
    parts = key.split(".")
    for i, part in enumerate(parts):
        if i == 0 and part in groups:
            return  # inside a group: the group's own keys are checked after composition
        keys = list(node.keys()) if OmegaConf.is_dict(node) else []
        if part not in keys:
            where = ".".join(parts[:i]) or "top level"
            allowed = [k for k in keys if k != "hydra"] + (list(groups) if i == 0 else [])
            close = difflib.get_close_matches(part, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            add = " (prefix with + to add a new key)" if open_config else ""
            raise ConfigError(
                f"unknown config key '{key}'{hint}; keys at {where}: "
                f"{', '.join(sorted(allowed))}{add}"
            )
        if OmegaConf.is_missing(node, part):
            return  # a required value (???): the command's own check asks for it
        node = node[part]
        if not OmegaConf.is_dict(node):
            return
