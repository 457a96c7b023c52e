"""Every command reads its command line one way, and fails on bad input with one line.

    argv ──► preflight(argv, name)   syntax, keys, group options        config.preflight
         ──► integral(name, argv)    `n_timesteps=2e4` as `n_timesteps=20000` where an
                                     integer is expected (2500.5 stays, and fails below)
         ──► compose(name, argv)     Hydra's Compose API: the typed config of conf/<name>.yaml
         ──► check(name, cfg)        values: the YAML's types, required (???) keys, the rules
                                     below (ranges, choices, one of two keys)
    any failure: `<program>: error: <one line>`, exit code 2, before torch, SB3 or MLflow load

    name       command                                         config
    config     python -m rl_harness                            conf/config.yaml (+ groups)
    evaluate   python -m rl_harness.evaluate                   conf/evaluate.yaml
    compare    python -m rl_harness.compare                    conf/compare.yaml
    register   python -m rl_harness.serving register ...       conf/register.yaml
    serve      python -m rl_harness.serving serve ...          conf/serve.yaml
    export     python -m rl_harness.export                     conf/export.yaml
    runs       python -m rl_harness.runs                       conf/runs.yaml

Hydra apps (training, evaluate, compare) get their checked argv back (`checked_argv`) and
compose again under `@hydra.main`; serving, export and runs take the composed config (`load`,
`load_subcommand`). The entry points (rl_harness/<command>.py) run these checks before they
import the command's code, inside `reporting(program)`.
Training (`config`) keeps its values to `train.validate`, after composition, where a recorded
config being resumed is judged too: it applies RULES["config"] below, then what depends on the
algorithm's signature and the env (build).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_harness.common.seeds import EVAL_SEED_OFFSET
from rl_harness.config.names import CHECKPOINT_FILES, RUN_STATUSES, VEC_ENVS
from rl_harness.config.preflight import CONF_DIR, SPACE, TRAINING, group_options, preflight
from rl_harness.errors import ConfigError, HarnessError, exit_with

Rule = Callable[[DictConfig], None]


def compose(name: str, argv: Sequence[str], hydra: bool = False) -> DictConfig:
    """conf/<name>.yaml with the (pre-flighted) overrides, through Hydra's Compose API
    (`hydra`: with the `hydra` node, e.g. for its run directory)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(name, overrides=list(argv), return_hydra_config=hydra)


def load(name: str, argv: Sequence[str]) -> DictConfig:
    """The checked config of a command that is not a Hydra app (serving, export)."""
    cfg = compose(name, integral(name, preflight(list(argv), name)))
    check(name, cfg)
    return cfg


def checked_argv(name: str, argv: Sequence[str]) -> list[str]:
    """A Hydra app's argv, checked (a single run's values too) and normalised for
    `@hydra.main`. Flags (-m, --cfg, --help) leave the values to each job, and training's
    values are `train.validate`'s (they depend on the algorithm)."""
    out = integral(name, preflight(list(argv), name))
    if name != TRAINING and not any(a.startswith("-") for a in out):
        check(name, compose(name, out))
    if name == TRAINING and any(a.lstrip("~+").startswith(SPACE) for a in out):
        _check_space_overrides(out)
    return out


def _check_space_overrides(argv: Sequence[str]) -> None:
    """`hydra.sweeper.space.*` on the command line: Hydra's own failures (deleting an entry the
    space lacks) in one line, and a space given to a run that is not a sweep refused."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    values = [a for a in argv if not a.startswith("-") and ("=" in a or a.startswith("~"))]
    try:
        cfg = compose(TRAINING, values, hydra=True)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(str(e).strip().splitlines()[0]) from None
    if "optuna_rl" not in str(cfg.hydra.sweeper.get("_target_")):
        raise ConfigError(
            f"{SPACE}: searched only in a sweep; add sweep=<name> (conf/sweep/: "
            f"{', '.join(group_options('sweep'))})"
        )


def load_subcommand(
    program: str, choices: Sequence[str], argv: Sequence[str]
) -> tuple[str, DictConfig]:
    """`<program> <choice> key=value ...`: the choice and its checked config."""
    if not argv or argv[0] not in choices:
        raise ConfigError(f"usage: python -m {program} {{{','.join(choices)}}} key=value ...")
    return argv[0], load(argv[0], argv[1:])


@contextmanager
def reporting(program: str) -> Iterator[None]:
    """The commands' one way out on a user mistake: one line on stderr, exit code 2."""
    try:
        yield
    except HarnessError as e:
        exit_with(e, program)


def check(name: str, cfg: DictConfig) -> None:
    """The command's values against its YAML (types, ??? keys) and its rules."""
    base = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    _required(cfg)
    _types(OmegaConf.to_container(base, resolve=False), cfg, "")
    apply_rules(name, cfg)


def apply_rules(name: str, cfg: DictConfig) -> None:
    """The command's value rules alone (RULES[name]): training's, whose config is not one
    YAML file, applies these in `train.validate`."""
    for rule in RULES.get(name, ()):
        rule(cfg)


def integral(name: str, argv: Sequence[str]) -> list[str]:
    """The overrides, with a whole-number float given to an integer key written as an integer.

    Hydra reads `2e4` as the float 20000.0; where the YAML's default is an integer, or a rule
    below asks for one (`integer`), it becomes `20000`, also in a sweep (`1e4,2e4`). Any other
    value passes unchanged, for the checks to judge (2500.5 stays a float and fails)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    keys = integer_keys(name)
    parser = OverridesParser.create()
    out = []
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            out.append(arg)
            continue
        try:
            override = parser.parse_override(arg)
        except HydraException:  # a flag's value (`--cfg job`, ...): preflight passed it on
            out.append(arg)
            continue
        if override.key_or_group not in keys or override.is_delete():
            out.append(arg)
            continue
        value = override.value()
        values: list[Any] = [value]
        if isinstance(value, ChoiceSweep):  # `1e4,2e4`; choice(...) and the like as written
            values = list(value.list) if value.simple_form else []
        if any(_whole(v) for v in values) and all(_whole(v) or _is_int(v) for v in values):
            arg = f"{arg.partition('=')[0]}={','.join(str(int(v)) for v in values)}"
        out.append(arg)
    return out


def _whole(value: Any) -> bool:
    """A float that is a whole number (20000.0)."""
    return isinstance(value, float) and value.is_integer()


def integer_keys(name: str) -> set[str]:
    """The keys of conf/<name>.yaml that hold integers: those whose default is one, and
    those an `integer` rule names."""
    base = OmegaConf.to_container(OmegaConf.load(CONF_DIR / f"{name}.yaml"), resolve=False)
    keys = set(_int_defaults(base, ""))
    keys.update(k for rule in RULES.get(name, ()) if isinstance(rule, Integer) for k in rule.keys)
    return keys


def _int_defaults(node: Any, prefix: str) -> Iterator[str]:
    for key, value in node.items():
        if isinstance(value, dict) and key != "hydra":
            yield from _int_defaults(value, f"{prefix}{key}.")
        elif _is_int(value):
            yield prefix + str(key)


def _required(cfg: DictConfig) -> None:
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        give = " ".join(f"{k}=<value>" for k in missing)
        raise ConfigError(f"missing required {', '.join(missing)}: give {give}")


def _types(defaults: Any, cfg: DictConfig, prefix: str) -> None:
    """A value must have its default's type (bool, integer, number, list); null takes any."""
    for key, default in defaults.items():
        if key == "hydra" or OmegaConf.is_missing(cfg, key):
            continue
        path, value = prefix + str(key), cfg[key]
        if isinstance(default, dict):
            if not OmegaConf.is_dict(value):
                raise ConfigError(
                    f"{path} must be a mapping of {', '.join(default)}, got {value!r}"
                )
            _types(default, value, path + ".")
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {value!r}")
        elif isinstance(default, int) and not isinstance(default, bool) and not _is_int(value):
            raise ConfigError(f"{path} must be an integer, got {value!r}")
        elif isinstance(default, float) and not _is_number(value):
            raise ConfigError(f"{path} must be a number, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


# ---------------------------------------------------------------- rules


def one_of(a: str, b: str, hint_a: str, hint_b: str) -> Rule:
    def rule(cfg: DictConfig) -> None:
        if bool(cfg[a]) == bool(cfg[b]):
            raise ConfigError(f"give exactly one of {a}=<{hint_a}> or {b}=<{hint_b}>")

    return rule


def integer(*keys: str, minimum: int | None = 1, optional: bool = False, note: str = "") -> Rule:
    """Integers ≥ `minimum` (1: positive; None: any), or (`optional`) null; `note` says what
    a special value means (`0 turns it off`)."""
    return Integer(keys, minimum, optional, note)


@dataclass(frozen=True)
class Integer:
    """The `integer` rule; `integral` reads its keys to write `2e4` as `20000`."""

    keys: tuple[str, ...]
    minimum: int | None
    optional: bool
    note: str = ""

    def __call__(self, cfg: DictConfig) -> None:
        names = {1: "a positive integer", 0: "an integer ≥ 0"}
        what = names.get(self.minimum, "an integer") if self.minimum is not None else "an integer"
        for key in self.keys:
            value = OmegaConf.select(cfg, key)
            if self.optional and value is None:
                continue
            if not _is_int(value) or (self.minimum is not None and value < self.minimum):
                extra = " or null" if self.optional else ""
                note = f" ({self.note})" if self.note else ""
                raise ConfigError(f"{key} must be {what}{extra}{note}, got {value!r}")


def number(key: str, minimum: float, *, optional: bool = False) -> Rule:
    """A number (integer or float) ≥ `minimum`, or (`optional`) null."""

    def rule(cfg: DictConfig) -> None:
        value = OmegaConf.select(cfg, key)
        if optional and value is None:
            return
        if not _is_number(value) or value < minimum:
            extra = " or null" if optional else ""
            raise ConfigError(f"{key} must be a number ≥ {minimum:g}{extra}, got {value!r}")

    return rule


def boolean(key: str) -> Rule:
    """true or false (a key missing from an older recorded config: its default applies)."""

    def rule(cfg: DictConfig) -> None:
        value = OmegaConf.select(cfg, key, default=False)
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")

    return rule


def not_below(key: str, other: str) -> Rule:
    """`key` ≥ `other` (two numbers that their own rules have checked; null: no bound)."""

    def rule(cfg: DictConfig) -> None:
        value, bound = OmegaConf.select(cfg, key), OmegaConf.select(cfg, other)
        if value is not None and bound is not None and value < bound:
            raise ConfigError(f"{key} ({value}) must be ≥ {other} ({bound})")

    return rule


def when(key: str, *rules: Rule) -> Rule:
    """`rules` only where `key` is set (true, non-zero): e.g. the episodes of an evaluation
    that runs."""

    def rule(cfg: DictConfig) -> None:
        if OmegaConf.select(cfg, key):
            for inner in rules:
                inner(cfg)

    return rule


def choice(
    key: str, options: Sequence[str | bool], *, optional: bool = False, default: Any = None
) -> Rule:
    """One of `options` (true and false as YAML writes them), or (`optional`) null; `default`:
    the value of a key missing from an older recorded config."""

    def rule(cfg: DictConfig) -> None:
        value = OmegaConf.select(cfg, key, default=default)
        if optional and value is None:
            return
        if not any(value == o and isinstance(value, bool) == isinstance(o, bool) for o in options):
            extra = " (or null)" if optional else ""
            shown = ", ".join(str(o).lower() if isinstance(o, bool) else o for o in options)
            raise ConfigError(f"{key} must be one of {shown}{extra}, got {value!r}")

    return rule


def text(*keys: str) -> Rule:
    """null or a name (not a number, list or mapping)."""

    def rule(cfg: DictConfig) -> None:
        for key in keys:
            if (value := cfg[key]) is not None and not isinstance(value, str):
                raise ConfigError(f"{key} must be a name, got {value!r}")

    return rule


def key_value(key: str) -> Rule:
    """null or `name=value` (no quotes: the value goes into a store query)."""

    def rule(cfg: DictConfig) -> None:
        value = cfg[key]
        if value is None:
            return
        name, eq, wanted = str(value).partition("=")
        if not (isinstance(value, str) and eq and name and wanted) or any(
            q in str(value) for q in "'\"`"
        ):
            raise ConfigError(f"{key} must be name=value, e.g. {key}=group=baseline, got {value!r}")

    return rule


def between(key: str, low: float, high: float, *, open_interval: bool = False) -> Rule:
    def rule(cfg: DictConfig) -> None:
        value = OmegaConf.select(cfg, key)
        inside = _is_number(value) and (
            low < value < high if open_interval else low <= value <= high
        )
        if not inside:
            bounds = f"({low}, {high})" if open_interval else f"[{low}, {high}]"
            raise ConfigError(f"{key} must be a number in {bounds}, got {value!r}")

    return rule


def names(key: str, *, single: bool = False) -> Rule:
    """null or a list of names (`single`: or one name)."""

    def rule(cfg: DictConfig) -> None:
        value = cfg[key]
        if value is None or (single and isinstance(value, str)):
            return
        if not (OmegaConf.is_list(value) and all(isinstance(v, str) for v in value)):
            one = "a name or " if single else ""
            raise ConfigError(f"{key} must be {one}a list of names, e.g. [ppo,dqn], got {value!r}")

    return rule


def subset(key: str, options: Sequence[str]) -> Rule:
    """null or a list of some of `options` (a single one also as a name)."""

    def rule(cfg: DictConfig) -> None:
        value = cfg[key]
        if value is None:
            return
        given = [value] if isinstance(value, str) else value
        if not (OmegaConf.is_list(given) or isinstance(given, list)) or any(
            v not in options for v in given
        ):
            raise ConfigError(
                f"{key} must be a list of some of {', '.join(options)}, "
                f"e.g. {key}=[{','.join(options)}], got {value!r}"
            )

    return rule


def training_seed(cfg: DictConfig) -> None:
    """A training seed below the evaluation seeds, for each of its `n_envs` envs."""
    top = EVAL_SEED_OFFSET - cfg.n_envs
    if not _is_int(cfg.seed) or not 0 <= cfg.seed <= top:
        raise ConfigError(
            f"seed must be an integer in [0, {top}], got {cfg.seed!r}: evaluation seeds start at "
            f"{EVAL_SEED_OFFSET}, and no training seed may reach them"
        )


def closing_evaluation(prefix: str, *, inherited: bool = False) -> list[Rule]:
    """The closing evaluation's counts and precision (training.closing): training's
    eval.final.*, and evaluate's, where (`inherited`) max_episodes and precision may be null
    (the training run's)."""
    episodes, most = f"{prefix}episodes", f"{prefix}max_episodes"
    return [
        integer(episodes, f"{prefix}n_envs"),
        integer(most, optional=inherited),
        not_below(most, episodes),
        number(f"{prefix}precision", 0, optional=inherited),
    ]


_MODEL = ("run_id", "model_path", "training run id", "file")
RULES: dict[str, list[Rule]] = {
    "config": [
        integer("n_timesteps", "n_envs", "torch_threads"),
        *closing_evaluation("eval.final."),
        training_seed,
        integer("eval.freq", "checkpoint.freq", minimum=0, note="0 turns it off"),
        integer("checkpoint.keep", minimum=0, note="0 keeps all"),
        integer(
            "checkpoint.keep_finished", minimum=0, optional=True, note="0 deletes all; null: keep"
        ),
        when("eval.freq", integer("eval.episodes")),
        choice("checkpoint.upload", [True, False, "auto"], default="auto"),
        boolean("mlflow.system_metrics"),
        choice("vec_env", VEC_ENVS),
    ],
    "evaluate": [
        one_of(*_MODEL),
        *closing_evaluation("", inherited=True),
        integer("video_episodes"),
        integer("video_fps", optional=True),
        integer("seed", minimum=None, optional=True),
        choice("checkpoint", list(CHECKPOINT_FILES)),
    ],
    "compare": [
        names("algos"),
        text("group", "group_tag"),
        subset("include", ("sweeps", "reruns")),
        integer("min_seeds", "bootstrap.samples"),
        between("bootstrap.confidence", 0.0, 1.0, open_interval=True),
    ],
    "serve": [between("port", 1, 65535), integer("workers"), integer("max_batch", optional=True)],
    "export": [one_of(*_MODEL), choice("checkpoint", list(CHECKPOINT_FILES))],
    "runs": [
        text("experiment", "env_id"),
        names("algos", single=True),
        key_value("tag"),
        choice("status", RUN_STATUSES, optional=True),
        integer("limit"),
    ],
}
