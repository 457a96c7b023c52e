"""Which Optuna, sampler and pruner a study searches with: recorded in the study, checked on
every resume.

Optuna 5 changed TPESampler's defaults (`multivariate` and `constant_liar` on), so the same
sweep config sampled differently under Optuna 4 and 5. The shipped sweep configs now give those
arguments explicitly; a study is still continued only under the Optuna major version that
started it, since what a config does not set (bandwidths, other samplers' defaults) may change
between majors too.

    study user attrs            optuna_version "5.1.0", sampler {"class", "args"}, pruner {...}
    parent run tags             optuna.version, optuna.sampler.class, optuna.sampler.args, ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna

from rl_harness.errors import ConfigError
from rl_harness.tuning.search import described

VERSION_ATTR = "optuna_version"


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


def sampling(sampler: Any, pruner: Any, parallel: bool = False) -> dict[str, Any]:
    """This session's Optuna version, sampler and pruner (classes and arguments), as the
    study records them."""
    return {VERSION_ATTR: optuna.__version__, **described(sampler, pruner, parallel)}


def check(study_name: str, attrs: Mapping[str, Any], running: str = optuna.__version__) -> None:
    """Refuse to continue a study that another Optuna major version started."""
    started = attrs.get(VERSION_ATTR)
    if started is None or major(str(started)) == major(running):
        return
    raise ConfigError(
        f"study '{study_name}' was started under Optuna {started} and this is Optuna "
        f"{running}: its sampler would not continue the same search across major versions; "
        f"resume it with Optuna {major(str(started))} installed (pip install "
        f"'optuna=={started}'), or start a new hydra.sweeper.study_name"
    )


def record(study: optuna.Study, session: Mapping[str, Any]) -> None:
    """Keep in the study what its first session searched with (`sampling`): a resume leaves
    the record of how it began."""
    for key, value in session.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)


def tags(session: Mapping[str, Any]) -> dict[str, str]:
    """The session's record as tags of the study's MLflow parent run."""
    out = {"optuna.version": str(session[VERSION_ATTR])}
    for kind in ("sampler", "pruner"):
        out[f"optuna.{kind}.class"] = session[kind]["class"]
        out[f"optuna.{kind}.args"] = json.dumps(session[kind]["args"], sort_keys=True, default=str)
    return out
