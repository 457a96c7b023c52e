"""The lead worker's ends of a sweep: the study's MLflow parent run, and at the end summary.txt,
best_hparams.yaml, the parent run's metrics and `best.*` tags; with validation, the comparison
(champion.py), its decision and the promotion.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from rl_harness.config.preflight import user_conf_dir
from rl_harness.tuning import champion, results, storage, trials, units
from rl_harness.tuning import validation as validations
from rl_harness.tuning.space import hydra_value, overrides
from rl_harness.tuning.state import SweepState
from rl_harness.tuning.versions import tags as sampling_tags


def parent_run(s: SweepState) -> contextlib.AbstractContextManager[Any]:
    """The study's MLflow parent run: opened on the first session, reopened on resumes."""
    from rl_harness.tracking import runs as tracking
    from rl_harness.tracking.recorder import NullRecorder

    if not s.tracking:
        return contextlib.nullcontext(NullRecorder())
    parent_id = s.study.user_attrs.get("mlflow_parent_run_id")
    return tracking.mlflow_run(
        s.experiment,
        run_name=f"sweep {s.study.study_name}",
        tags=parent_tags(s),
        run_id=parent_id if parent_id and tracking.run_exists(parent_id) else None,
    )


def parent_tags(s: SweepState) -> dict[str, str]:
    o, choices = s.options, s.config.hydra.runtime.choices
    return {
        "optuna.study": s.study_name,
        "optuna.storage": storage.redact(s.url),
        "optuna.direction": o["direction"],
        "optuna.n_trials": str(s.n_trials),
        "optuna.sampler": str(o["sampler"]),
        "optuna.pruner": str(o["pruner"]),
        "algo": s.config.algo.name,
        "env": s.config.env.id,
        "sweep.dir": str(s.sweep_dir),
        "sweep": str(choices.get("sweep")),
        **sampling_tags(s.sampling),  # Optuna's version, the classes' arguments
    }


def report(s: SweepState, parent: Any, arguments: list[str]) -> None:
    """summary.txt, best_hparams.yaml, the parent run's metrics and `best.*` tags; with
    validation, the comparison (champion.py) and its decision."""
    from rl_harness.tracking import runs as tracking

    study = s.study
    if parent.run_id and s.tracking:  # jobs of workers that started before the lead
        tracking.adopt(s.experiment, {"optuna.study": study.study_name}, parent.run_id)
    table = results.summary(study, s.params)
    (s.sweep_dir / "summary.txt").write_text(table + "\n")
    print(table)
    all_trials = study.get_trials(deepcopy=False)
    counts = results.counts(all_trials, units.job_results(study))
    metrics: dict[str, Any] = {f"trials/{k}": counts[k] for k in ("complete", "pruned", "fail")}
    metrics["timesteps/total"] = counts["timesteps"]
    metrics["timesteps/validation"] = counts["validation_timesteps"]
    metrics["validation/reused_runs"] = counts["reused_runs"]  # trained before: reuse.py
    try:
        best = study.best_trial
    except ValueError:
        best = None
    checked = None
    if best is not None:
        metrics["best/value"] = best.value
        checked = validations.report(study, s.checks, s.metric, s.how)
        if checked is None:
            header = (
                f"Best of Optuna study '{study.study_name}': trial {best.number}, "
                f"value {best.value:.6g} ({counts['complete']} complete, "
                f"{counts['pruned']} pruned)."
            )
            export(s, parent, best, header, arguments)
    parent.log_metrics(metrics, step=trials.counted(all_trials))
    parent.log_artifact(s.sweep_dir / "summary.txt")
    if checked is not None:
        validated(s, parent, checked, arguments)
    print(f"dashboard: optuna-dashboard {storage.redact(s.url)}")


def validated(s: SweepState, parent: Any, v: validations.Validation, arguments: list[str]) -> None:
    """Write and record the comparison; register the champion; promote it if asked and
    significantly better, else say why not."""
    where = champion.Where(s.sweep_dir, s.experiment, s.study.study_name, s.tracking)
    files = list(champion.write(v, where, s.k, s.metric, s.how))
    promote, why = validations.decide(v, bool(s.checks.promote))
    c = v.champion
    header = (
        f"Champion of Optuna study '{s.study.study_name}': trial {c.trial}, test IQM "
        f"{c.test_iqm:.6g} [{c.test_ci[0]:.6g}, {c.test_ci[1]:.6g}] on seeds "
        f"{' '.join(map(str, c.test_seeds))} (tuning {c.tuning:.6g});\n"
        f"incumbent {v.incumbent_iqm:.6g}; P(champion > incumbent) = {v.poi:.2f} "
        f"[{v.poi_ci[0]:.2f}, {v.poi_ci[1]:.2f}]."
    )
    files.append(export(s, parent, s.study.trials[c.trial], header, arguments))
    env = s.config.hydra.runtime.choices.env
    if promote:
        target = champion.target(s.checks.promote_to, f"{s.config.algo.name}_{env}")
        why += f": wrote {champion.promote(files[-1], target)}"
        if target.parent.parent == user_conf_dir():
            why += " (the user config directory, which later runs search first)"
    print(why, flush=True)
    champion.record(v, where, parent.run_id, files, why)
    if s.tracking:
        parent.set_tags({**champion.summary_tags(v), "decision": why})
    champion.register(v, where, s.checks.model_name or f"{s.config.algo.name}-{env}")


def export(
    s: SweepState, parent: Any, trial: FrozenTrial, header: str, arguments: list[str]
) -> Path:
    """A trial's config as conf/hparams YAML (best_hparams.yaml), logged and tagged on the
    parent run."""
    job_cfg = s.compose([*arguments, *overrides(s.params, trial.params)])
    header += (
        f"\nCommand-line overrides: {' '.join(arguments)}\n"
        f"Use it as conf/hparams/{s.config.algo.name}_"
        f"{s.config.hydra.runtime.choices.env}.yaml"
    )
    path = results.write_hparams(
        results.best_hparams(job_cfg, s.params), s.sweep_dir / "best_hparams.yaml", header
    )
    best_values = {
        f"best.{p.path}": hydra_value(p.value(trial.params[p.path]))
        for p in s.params
        if p.path in trial.params
    }
    parent.set_tags({"best.trial": trial.number, **best_values})
    parent.log_artifact(path)
    print(f"best hyperparameters: {path}")
    return path
