"""Command-line pre-flight: catch mistyped names on the command line before Hydra composes.

Hydra's own messages for these are several lines long and do not name the accepted values of
our keys; here each becomes one line. Hyperparameter overrides (`algo.<kwarg>=`, and
`env.kwargs.<kwarg>=`) may name any constructor argument, also one the YAML does not list, so
they are turned into Hydra's add-or-override form (`++`); the signature check in
`train.validate` then judges them.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from omegaconf import OmegaConf

from rl_harness.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
FREE_FORM = ("algo.", "env.kwargs.", "mlflow.tags")


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _groups() -> list[str]:
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir())


def preflight(argv: list[str]) -> list[str]:
    """Check and normalise the override arguments; flags pass through unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    base = OmegaConf.load(CONF_DIR / "config.yaml")
    groups = _groups()
    parser = OverridesParser.create()
    out: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next or arg.startswith("-"):
            # flags such as --cfg job, -m, --config-name NAME keep their values
            skip_next = arg in (
                "--cfg",
                "-c",
                "--package",
                "-p",
                "--config-path",
                "-cp",
                "--config-name",
                "-cn",
                "--config-dir",
                "-cd",
                "--info",
                "--experimental-rerun",
            )
            out.append(arg)
            continue
        try:
            override = parser.parse_override(arg)
        except HydraException as e:
            raise ConfigError(f"cannot parse override '{arg}': {str(e).splitlines()[0]}") from None
        key = override.key_or_group
        if key in ("hydra.run.dir", "hydra.sweep.dir"):
            _check_output_dir(override.get_value_element_as_str())
        if override.package is not None or key.startswith("hydra"):
            out.append(arg)
            continue
        if key in groups and not override.is_delete():
            values = (
                list(override.sweep_string_iterator())
                if override.is_sweep_override()
                else [override.get_value_element_as_str()]
            )
            options = group_options(key)
            for value in values:
                if value not in options and value != "null":
                    close = difflib.get_close_matches(value, options, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise ConfigError(
                        f"unknown {key} '{value}'{hint}; choose one of: {', '.join(options)}"
                    )
        elif key.startswith(FREE_FORM) and not override.is_add() and not override.is_force_add():
            arg = "++" + arg
        elif not (override.is_add() or override.is_force_add() or override.is_delete()):
            _check_path(base, key, groups)
        out.append(arg)
    return out


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


def _check_path(base: object, key: str, groups: list[str]) -> None:
    node = base
    parts = key.split(".")
    for i, part in enumerate(parts):
        if i == 0 and part in groups:
            return  # inside a group: the group's own keys are checked after composition
        keys = list(node.keys()) if OmegaConf.is_dict(node) else []  # type: ignore[union-attr]
        if part not in keys:
            where = ".".join(parts[:i]) or "top level"
            allowed = keys + ([g for g in groups] if i == 0 else [])
            close = difflib.get_close_matches(part, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown config key '{key}'{hint}; keys at {where}: "
                f"{', '.join(sorted(allowed))} (prefix with + to add a new key)"
            )
        node = node[part]  # type: ignore[index]
        if not OmegaConf.is_dict(node):
            return
