"""The end of a validated sweep: the comparison written, recorded and acted on.

validation.md          tuning vs test per re-tested trial, champion vs incumbent
validation.png         the same as figures
best_hparams.yaml      the champion's config (the sweeper writes it)
MLflow                 a `champion-vs-incumbent` run under the sweep's parent run with the
                       table, the figure and the metrics; the champion's model registered
                       as <algo>-<env>@champion (@challenger when the incumbent is kept)
                       with its test IQM and CI as tags
promotion              best_hparams.yaml over the shipped hparams file (keys it lacks
                       stay), only on `promote=true` and a significant improvement
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from rl_harness.common import plots
from rl_harness.config import preflight
from rl_harness.tuning import validation
from rl_harness.tuning.objective import Aggregate
from rl_harness.tuning.validation import Validation


@dataclass(frozen=True)
class Where:
    """Where the comparison goes: the sweep's directory and MLflow experiment, the study."""

    sweep_dir: Path
    experiment: str
    study: str
    tracking: bool


def write(v: Validation, where: Where, k: int, metric: str, how: Aggregate) -> tuple[Path, Path]:
    """validation.md and validation.png in the sweep directory."""
    text = validation.table(v, k, metric, how)
    md = where.sweep_dir / "validation.md"
    md.write_text(f"# Validation of study {where.study}\n\n{text}\n")
    print(text, flush=True)
    retests = [(f"trial {r.trial}", r.tuning, r.tuning_ci, r.test_iqm, r.test_ci) for r in v.rows]
    c = v.champion
    finalists = [
        ("incumbent", v.incumbent, v.incumbent_iqm, v.incumbent_ci),
        (f"champion (trial {c.trial})", c.test, c.test_iqm, c.test_ci),
    ]
    png = plots.plot_validation(
        retests, finalists, (v.poi, v.poi_ci), where.sweep_dir / "validation.png", metric
    )
    return md, png


def record(
    v: Validation, where: Where, parent_id: str | None, files: list[Path], decision: str
) -> None:
    """The comparison as a child run of the sweep: metrics, the table, the files."""
    if not where.tracking:
        return
    from rl_harness.tracking import runs

    c = v.champion
    match = {"optuna.study": where.study, "optuna.stage": "comparison"}
    match["champion.trial"] = str(c.trial)
    found = runs.search_runs([where.experiment], _where(match))
    if done := [r for r in found if r.data.tags.get("decision") == decision]:
        # a rerun of a finished sweep: this comparison is recorded already (a sweep given
        # more trials since, with another champion or outcome, is recorded anew)
        print(f"champion-vs-incumbent already recorded: MLflow run {done[0].info.run_id}")
        return
    tags = {
        "optuna.study": where.study,
        "optuna.stage": "comparison",
        "champion.trial": str(c.trial),
        "decision": decision,
    }
    with runs.mlflow_run(
        where.experiment, run_name="champion-vs-incumbent", tags=tags, parent_run_id=parent_id
    ) as rec:
        rec.log_metrics(validation.metrics(v), step=0)
        rows = [
            {
                "trial": r.trial,
                "tuning": r.tuning,
                "tuning_low": r.tuning_ci[0],
                "tuning_high": r.tuning_ci[1],
                "test_iqm": r.test_iqm,
                "test_low": r.test_ci[0],
                "test_high": r.test_ci[1],
                "gap": r.gap,
            }
            for r in v.rows
        ]
        runs.log_table(rec, rows, "validation_table.json")
        for path in files:
            rec.log_artifact(path)


def register(v: Validation, where: Where, name: str) -> str | None:
    """The champion's typical test run (score nearest its IQM) as a version of `name`, tagged
    with the test IQM and its CI; None where there is no model to register. The alias
    `champion`, which deployments load (`models:/name@champion`), goes to it only when it beats
    the incumbent as promotion requires; otherwise the alias is `challenger`, so a kept
    incumbent is never displaced in the registry by a sweep that lost."""
    if not where.tracking or (run_id := validation.typical_run(v)) is None:
        return None
    from rl_harness.errors import ConfigError
    from rl_harness.training.model_logging import register as register_model
    from rl_harness.training.model_logging import registered

    c = v.champion
    alias = "champion" if validation.beats_incumbent(v) else "challenger"
    tags = {
        "test_iqm": f"{c.test_iqm:.6g}",
        "test_iqm_ci95": f"[{c.test_ci[0]:.6g}, {c.test_ci[1]:.6g}]",
        "test_seeds": " ".join(map(str, c.test_seeds)),
        "improvement_probability": f"{v.poi:.3f} [{v.poi_ci[0]:.3f}, {v.poi_ci[1]:.3f}]",
        "optuna.study": where.study,
        "optuna.trial": str(c.trial),
    }
    if existing := registered(name, run_id):
        print(f"champion model: {existing} (already registered from run {run_id})")
        return existing
    try:
        uri = register_model(run_id, name, alias=alias, tags=tags)
    except ConfigError as e:
        print(f"champion not registered: {e}")
        return None
    print(f"champion model: {uri} (alias {alias})")
    return uri


def _where(match: dict[str, str]) -> str:
    return " and ".join(f"tags.`{k}` = '{v}'" for k, v in match.items())


def target(promote_to: str | None, name: str, conf: Path | None = None) -> Path:
    """Where promotion writes the champion `name` (<algo>_<env>): `promote_to` where given;
    else the shipped hparams file in a source checkout; else — configs from an installed
    package, which is never written — the user config directory, which later runs search
    before the shipped configs (preflight.user_conf_dir)."""
    if promote_to:
        return Path(promote_to)
    conf = preflight.CONF_DIR if conf is None else conf
    if preflight.installed(conf):
        return preflight.user_conf_dir() / "hparams" / f"{name}.yaml"
    return conf / "hparams" / f"{name}.yaml"


def promote(best: Path, target: Path) -> Path:
    """The champion's hparams over the shipped file (git keeps the one it replaces). What the
    champion's file does not set stays as shipped: trials run without checkpoints and with the
    sweep's evaluation cadence, so those keys are not the champion's to decide."""
    target.parent.mkdir(parents=True, exist_ok=True)
    champion = _mapping(best)
    shipped = _mapping(target) if target.is_file() else {}
    kept = sorted(k for k in shipped if k not in champion)
    lines = best.read_text().splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    if kept:
        header.append(f"# Kept from the file this replaced: {', '.join(kept)}")
    body = OmegaConf.to_yaml(OmegaConf.create(_over(shipped, champion)))
    target.write_text("\n".join(header) + "\n" + body)
    return target


def _mapping(path: Path) -> dict[str, Any]:
    return cast(dict, OmegaConf.to_container(OmegaConf.load(path))) or {}


def _over(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, mapping by mapping; `algo` is the champion's whole (as it ran)."""
    out = dict(base)
    for key, value in top.items():
        if key != "algo" and isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _over(base[key], value)
        else:
            out[key] = value
    return out


def summary_tags(v: Validation) -> dict[str, Any]:
    """What the parent run says of the validation, for the runs list."""
    c = v.champion
    return {
        "champion.trial": c.trial,
        "champion.test_iqm": f"{c.test_iqm:.6g}",
        "champion.improvement": f"{v.poi:.2f} [{v.poi_ci[0]:.2f}, {v.poi_ci[1]:.2f}]",
    }
