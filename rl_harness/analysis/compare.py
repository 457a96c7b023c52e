"""`python -m rl_harness.compare [experiment=...] [env_id=...]` — compare algorithms across seeds.

Finished training runs are grouped by configuration: (algo, env, the user's `group` tag where a
run has one, else its `seed_group` — the hash of its config without the seed): the seeds of one
configuration (`python -m rl_harness -m seed=0,1,2,3,4 [mlflow.tags.group=baseline]`). Sweep
jobs (trials, re-tests, incumbents: tag `optuna.study`) and reruns (tag `rerun_of`) are left out
unless `include=[sweeps,reruns]`; a rerun is never an extra seed of its source (its own row).
Per group: the
mean ± its 95% CI (std) across seeds, as every command prints an estimate (`stats.estimate`), the
interquartile mean (IQM: the 25%-trimmed mean, robust to an outlier seed) with a percentile-
bootstrap 95% confidence interval (scipy.stats.bootstrap; the method of Agarwal et al. 2021, "Deep
RL at the edge of the statistical precipice"), % of the optimum where the task has one, timesteps
the timesteps (a range where the runs differ), wall time and the runs' names. Between every two rows
of one env: P(row > other), the probability of improvement with its percentile-bootstrap 95%
CI (stats.probability_of_improvement / improvement_ci, as validated tuning judges a champion).
The table is printed and, with two figures — learning curves with confidence bands
across seeds and final performance per algorithm — logged to a comparison run (tag
run_type=comparison).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from rl_harness.common import tables
from rl_harness.common.plots import plot_final_performance, plot_learning_curves
from rl_harness.common.stats import (
    bootstrap_ci,
    ci95,
    estimate,
    improvement_ci,
    iqm,
    mean_std,
    probability_of_improvement,
)
from rl_harness.config import commands
from rl_harness.config.names import COMPARISONS_EXPERIMENT, current_env_id, env_experiment
from rl_harness.config.preflight import CONF_DIR
from rl_harness.config.runtime import output_dir, to_plain
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking

RUN_TYPE = "comparison"
ALIGN = "llllrrrrrl"  # the numeric columns right-aligned
GROUP_TAG = "group"  # the user's own grouping (mlflow.tags.group=...)
CONFIG_TAG = "seed_group"  # what training tags every run with: its configuration
SWEEP_TAG = "optuna.study"  # sweep trials, re-tests and incumbents (tuning.job)
RERUN_TAG = "rerun_of"  # training.rerun


@dataclass
class SeedRun:
    run_id: str
    seed: str
    score: float
    optimum: float | None
    timesteps: int
    wall_s: float
    curve: list[tuple[int, float]]
    name: str = ""


@dataclass
class Group:
    algo: str
    env: str
    group: str
    runs: list[SeedRun] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.algo + (f" [{self.group}]" if self.group else "")


def group_of(tags: dict[str, str], group_tag: str | None) -> str:
    """The run's configuration: `group_tag`'s value where set; by default the user's `group`
    tag where the run has one, else its `seed_group`; a rerun apart from its source's seeds."""
    if group_tag:
        group = tags.get(group_tag, "")
    else:
        group = tags.get(GROUP_TAG) or tags.get(CONFIG_TAG, "")
    return f"{group} (rerun)" if RERUN_TAG in tags else group


def collect(cfg: DictConfig) -> list[Group]:
    """Training runs (not evaluations or comparisons) that match the filters, grouped."""
    experiments = cfg.experiment
    if isinstance(experiments, str):
        experiments = [experiments]
    runs = tracking.search_runs(list(experiments) if experiments else None)
    algos = set(cfg.algos) if cfg.algos else None
    include = set(cfg.include or [])
    groups: dict[tuple[str, str, str], Group] = {}
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        if "run_type" in tags or cfg.metric not in metrics or "algo" not in tags:
            continue
        if SWEEP_TAG in tags and "sweeps" not in include:
            continue  # trials, re-tests and incumbents of a sweep: other configurations
        if RERUN_TAG in tags and "reruns" not in include:
            continue  # a rerun repeats a seed: it is not another one
        group = group_of(tags, cfg.group_tag)
        if cfg.group and group != cfg.group:
            continue
        if algos is not None and tags["algo"] not in algos:
            continue
        if cfg.env_id and env_experiment(tags.get("env", "")) != env_experiment(cfg.env_id):
            continue  # `Inventory-v0` matches runs of `rl_harness.envs:Inventory-v0`
        env = current_env_id(tags.get("env", "?"))  # runs recorded as `envs:...` join theirs
        key = (tags["algo"], env, group)
        final = tracking.metric_history(run.info.run_id, cfg.metric)
        groups.setdefault(key, Group(*key)).runs.append(
            SeedRun(
                run_id=run.info.run_id,
                seed=run.data.params.get("seed", "?"),
                score=metrics[cfg.metric],
                optimum=metrics.get("optimum"),
                timesteps=final[-1][0] if final else 0,
                wall_s=((run.info.end_time or run.info.start_time) - run.info.start_time) / 1000,
                curve=tracking.metric_history(run.info.run_id, cfg.curve_metric),
                name=run.info.run_name or run.info.run_id,
            )
        )
    return sorted(
        (g for g in groups.values() if len(g.runs) >= cfg.min_seeds),
        key=lambda g: (g.env, g.algo, g.group),
    )


def summarize(group: Group, boot: DictConfig) -> dict[str, Any]:
    scores = np.array([r.score for r in group.runs])
    ci = (boot.samples, boot.confidence, boot.seed)
    lo, hi = bootstrap_ci(scores, iqm, *ci)
    mean, std = mean_std(scores)
    row: dict[str, Any] = {
        "env": group.env,
        "algo": group.algo,
        "group": group.group,
        "seeds": len(scores),
        "mean": mean,
        "std": std,
        "ci95": ci95(scores),  # half-width of the 95% CI of the mean (Student's t)
        "iqm": float(iqm(scores)),
        "iqm_ci_low": float(lo),
        "iqm_ci_high": float(hi),
        "optimum": None,
        "iqm_pct_optimum": None,
        "pct_ci_low": None,
        "pct_ci_high": None,
        "timesteps_min": min(r.timesteps for r in group.runs),
        "timesteps_max": max(r.timesteps for r in group.runs),
        "wall_s": float(np.mean([r.wall_s for r in group.runs])),
        "runs": " ".join(sorted(r.name for r in group.runs)),
        "run_ids": [r.run_id for r in group.runs],
    }
    optima = [r.optimum for r in group.runs]
    if all(o for o in optima):  # normalise per run: seeds may differ in env kwargs
        pct = 100 * scores / np.array(optima)
        plo, phi = bootstrap_ci(pct, iqm, *ci)
        row.update(
            optimum=float(np.mean(np.asarray(optima, dtype=float))),
            iqm_pct_optimum=float(iqm(pct)),
            pct_ci_low=float(plo),
            pct_ci_high=float(phi),
        )
    return row


def curve(group: Group, boot: DictConfig) -> tuple[np.ndarray, ...] | None:
    """(steps, IQM, CI low, CI high) across seeds on the steps the seeds share.

    Seeds of one configuration evaluate at the same timesteps; where they do not, the curves
    are interpolated onto the steps of the first seed within the range all seeds cover.
    """
    curves = [np.array(r.curve, dtype=float) for r in group.runs if r.curve]
    if not curves:
        return None
    steps = curves[0][:, 0]
    lo, hi = max(c[0, 0] for c in curves), min(c[-1, 0] for c in curves)
    steps = steps[(steps >= lo) & (steps <= hi)]
    if len(steps) == 0:
        return None
    values = np.stack([np.interp(steps, c[:, 0], c[:, 1]) for c in curves])
    low, high = bootstrap_ci(values, iqm, boot.samples, boot.confidence, boot.seed, axis=0)
    return steps, iqm(values, axis=0), low, high


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "—" if v is None or np.isnan(v) else format(v, spec)


def table(rows: list[dict[str, Any]], confidence: float) -> tuple[list[str], list[list[str]]]:
    """The comparison as headers and cells, for `tables.text` and `tables.markdown`."""
    pct = f"{round(100 * confidence)}%"
    head = [
        "env",
        "algo",
        "group",
        "seeds",
        "mean ± 95% CI (std)",
        f"IQM [{pct} CI]",
        f"% optimum (IQM [{pct} CI])",
        "timesteps",
        "wall time/run",
        "runs",
    ]
    cells = []
    for r in rows:
        opt = (
            "—"
            if r["iqm_pct_optimum"] is None
            else (f"{r['iqm_pct_optimum']:.1f} [{_fmt(r['pct_ci_low'])}, {_fmt(r['pct_ci_high'])}]")
        )
        cells.append(
            [
                r["env"],
                r["algo"],
                r["group"] or "—",
                str(r["seeds"]),
                estimate(r["mean"], r["ci95"], r["std"]),
                f"{r['iqm']:.2f} [{_fmt(r['iqm_ci_low'], '.2f')}, {_fmt(r['iqm_ci_high'], '.2f')}]",
                opt,
                timesteps(r),
                f"{r['wall_s']:.1f} s",
                r["runs"],
            ]
        )
    return head, cells


def timesteps(row: dict[str, Any]) -> str:
    """`20,000`, or `8,192–20,480` where the runs' budgets differ."""
    low, high = row["timesteps_min"], row["timesteps_max"]
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def pairwise(groups: list[Group], boot: DictConfig) -> list[dict[str, Any]]:
    """P(a > b) with its bootstrap CI for every two rows of one env, a the row of the higher
    IQM: the chance that a run of a beats a run of b, ties half; NaN bounds below 2 runs a side."""
    pairs = []
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            if first.env != second.env:
                continue
            a, b = sorted((first, second), key=lambda g: -float(iqm([r.score for r in g.runs])))
            x, y = [r.score for r in a.runs], [r.score for r in b.runs]
            low, high = improvement_ci(x, y, boot.samples, boot.confidence, boot.seed)
            pairs.append(
                {
                    "env": a.env,
                    "a": a.label,
                    "b": b.label,
                    "p_improvement": probability_of_improvement(x, y),
                    "ci_low": low,
                    "ci_high": high,
                    "runs_a": len(x),
                    "runs_b": len(y),
                }
            )
    return pairs


def pair_line(p: dict[str, Any], confidence: float) -> str:
    pct = f"{round(100 * confidence)}%"
    return (
        f"P({p['a']} > {p['b']}) = {p['p_improvement']:.2f} "
        f"[{_fmt(p['ci_low'], '.2f')}, {_fmt(p['ci_high'], '.2f')}] ({pct} CI; "
        f"{p['runs_a']} vs {p['runs_b']} runs) on {p['env']}"
    )


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    commands.check("compare", cfg)  # as on the command line, also for callers that compose
    groups = collect(cfg)
    if not groups:
        raise ConfigError(
            "no finished training runs match (experiment="
            f"{OmegaConf.to_container(cfg.experiment) if OmegaConf.is_config(cfg.experiment) else cfg.experiment}, "  # noqa: E501
            f"env_id={cfg.env_id}, algos={cfg.algos}, group={cfg.group}) in "
            f"{tracking.tracking_uri()}"
        )
    rows = [summarize(g, cfg.bootstrap) for g in groups]
    head, cells = table(rows, cfg.bootstrap.confidence)
    text = tables.text(head, cells, ALIGN)
    pairs = pairwise(groups, cfg.bootstrap)
    lines = [pair_line(p, cfg.bootstrap.confidence) for p in pairs]
    if lines:
        text += "\n\nProbability of improvement (a run of the first beats a run of the second):\n"
        text += "\n".join(lines)
    print(text)
    out_dir = out_dir or output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "compare.md", out_dir / "compare.csv", out_dir / "runs.json"]
    md = tables.markdown(head, cells, ALIGN) + "\n"
    files[0].write_text(md + "".join(f"\n- {line}" for line in lines) + ("\n" if lines else ""))
    with files[1].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "run_ids"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "run_ids"} for r in rows)
    files[2].write_text(
        json.dumps({g.label + f" @ {g.env}": [r.run_id for r in g.runs] for g in groups}, indent=1)
    )
    curves = {(g.env, g.label): curve(g, cfg.bootstrap) for g in groups}
    finals = {
        (g.env, g.label): (row, [r.score for r in g.runs])
        for g, row in zip(groups, rows, strict=True)
    }
    pct = round(100 * cfg.bootstrap.confidence)
    files.append(
        plot_learning_curves(
            curves,
            out_dir / "learning_curves.png",
            cfg.curve_metric,
            f"IQM across seeds, {pct}% bootstrap CI",
        )
    )
    files.append(
        plot_final_performance(
            finals,
            out_dir / "final_performance.png",
            cfg.metric,
            f"IQM, {pct}% bootstrap CI; dots: seeds",
        )
    )
    if pairs:
        files.append(out_dir / "pairwise.csv")
        with files[-1].open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(pairs[0]))
            writer.writeheader()
            writer.writerows(pairs)
    run_id = _record(cfg, groups, rows, files)
    print(f"wrote {', '.join(f.name for f in files)} to {out_dir}")
    if run_id:
        experiment = cfg.mlflow.experiment or COMPARISONS_EXPERIMENT
        print(f"comparison run: {run_id} (experiment {experiment}, {tracking.tracking_uri()})")
    return {
        "rows": rows,
        "pairs": pairs,
        "table": text,
        "run_id": run_id,
        "out_dir": str(out_dir),
        "files": [str(f) for f in files],
    }


def _record(
    cfg: DictConfig, groups: list[Group], rows: list[dict[str, Any]], files: list[Path]
) -> str | None:
    if not cfg.mlflow.enabled:
        return None
    # Their own experiment: one-value metrics per group would crowd the training runs' charts.
    experiment = cfg.mlflow.experiment or COMPARISONS_EXPERIMENT
    compared = cfg.experiment if isinstance(cfg.experiment, str) else cfg.env_id or "all"
    tags = {
        "run_type": RUN_TYPE,
        "compared_runs": sum(len(g.runs) for g in groups),
        "compared_experiment": compared,
    }
    name = cfg.mlflow.run_name or f"compare-{env_experiment(str(compared))}"
    with tracking.mlflow_run(
        experiment, name, tags=tags, unique_name=not cfg.mlflow.run_name
    ) as rec:
        rec.log_params({k: v for k, v in to_plain(cfg).items() if k != "mlflow"})
        for r in rows:
            prefix = f"{env_experiment(r['env'])}/{r['algo']}" + (
                f"/{r['group']}" if r["group"] else ""
            )
            rec.log_metrics({f"{prefix}/iqm": r["iqm"], f"{prefix}/mean": r["mean"]}, step=0)
        for path in files:
            rec.log_artifact(path)
        tracking.log_table(rec, rows, "compare_table.json")  # the UI shows it as a table
        return rec.run_id


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="compare")
def main(cfg: DictConfig) -> None:
    with commands.reporting("rl_harness.compare"):
        run(cfg)
