"""`python -m rl_harness.runs [experiment=...] [algos=...] [env_id=...] [tag=k=v] [status=...]`
— the runs in the tracking store, newest first, one line each:

    started (UTC)     status    name                run id  result
    2026-12-07 04:50  FINISHED  ppo-CartPole-v1-s3  4f0c…   500.00 ± 0.00 (95% CI; std 0.00) …

The result is the training run's closing evaluation (`final/*`) or an evaluation run's
(`eval/*`), printed as every command prints an estimate (`stats.estimate`): the mean ± the
half-width of its 95% CI, the std, the episodes, and the % of the optimum where the task has
one. A run without one (running, failed) shows —.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_harness.common import tables
from rl_harness.common.stats import estimate, of_optimum
from rl_harness.config import commands
from rl_harness.config.names import env_experiment
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking

HEADERS = ["started (UTC)", "status", "name", "run id", "result"]
# Where a run keeps its result: a training run's closing evaluation, an evaluation run's.
RESULTS = ("final/", "eval/")


def find(cfg: DictConfig) -> list[dict[str, Any]]:
    """The matching runs as rows (newest first, at most `cfg.limit`)."""
    commands.check("runs", cfg)  # as on the command line, also for callers that compose
    experiments = [cfg.experiment] if cfg.experiment else None
    if cfg.experiment and cfg.experiment not in (known := tracking.experiment_names()):
        close = difflib.get_close_matches(cfg.experiment, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"no experiment '{cfg.experiment}'{hint} in {tracking.tracking_uri()}; "
            f"experiments: {', '.join(known) or 'none'}"
        )
    query, keep = _filters(cfg)
    found = tracking.search_runs(
        experiments, query, finished=False, limit=None if keep else cfg.limit
    )
    if keep:
        found = [r for r in found if keep(r)][: cfg.limit]
    names: dict[str, str] = {}
    return [_row(run, names) for run in found]


def _filters(cfg: DictConfig) -> tuple[str, Callable[[Any], bool] | None]:
    """The store query, and a test for what it cannot say (then the limit is applied after)."""
    query, tests = [], []
    if cfg.status:
        query.append(f"attributes.status = '{cfg.status}'")
    if cfg.tag:
        key, _, value = cfg.tag.partition("=")
        query.append(f"tags.`{key}` = '{value}'")
    algos = [cfg.algos] if isinstance(cfg.algos, str) else list(cfg.algos or [])
    if len(algos) == 1:
        query.append(f"tags.algo = '{algos[0]}'")
    elif algos:
        tests.append(lambda run: run.data.tags.get("algo") in algos)
    if cfg.env_id and ":" in cfg.env_id:
        query.append(f"tags.env = '{cfg.env_id}'")
    elif cfg.env_id:  # `Inventory-v0` matches `envs:Inventory-v0`, not `MyInventory-v0`
        query.append(f"tags.env LIKE '%{cfg.env_id}'")
        tests.append(lambda run: env_experiment(run.data.tags.get("env", "")) == cfg.env_id)
    keep = (lambda run: all(test(run) for test in tests)) if tests else None
    return " and ".join(query), keep


def _row(run: Any, names: dict[str, str]) -> dict[str, Any]:
    info, tags, metrics = run.info, run.data.tags, run.data.metrics
    if info.experiment_id not in names:
        names[info.experiment_id] = tracking.experiment_name(info.experiment_id)
    row: dict[str, Any] = {
        "name": info.run_name,
        "run_id": info.run_id,
        "experiment": names[info.experiment_id],
        "status": info.status,
        "start_time": datetime.fromtimestamp(info.start_time / 1000, UTC),
        "run_type": tags.get("run_type", "training"),
        "algo": tags.get("algo"),
        "env": tags.get("env"),
        "mean_reward": None,
        "ci95": None,
        "std_reward": None,
        "episodes": None,
        "optimality": None,
    }
    prefix = next((p for p in RESULTS if f"{p}mean_reward" in metrics), None)
    if prefix is not None:
        mean = metrics[f"{prefix}mean_reward"]
        optimality = metrics.get(f"{prefix}optimality")
        row.update(
            mean_reward=mean,
            ci95=metrics.get(f"{prefix}ci95", float("nan")),
            std_reward=metrics.get(f"{prefix}std_reward", float("nan")),
            episodes=int(metrics[f"{prefix}episodes"]) if f"{prefix}episodes" in metrics else None,
            optimality=optimality,
            optimum=metrics.get("optimum") or (mean / optimality if optimality else None),
        )
    return row


def result(row: dict[str, Any]) -> str:
    """A row's result as every command prints one, or — where the run has none."""
    if row["mean_reward"] is None:
        return "—"
    mean, ci = row["mean_reward"], row["ci95"]
    return estimate(mean, ci, row["std_reward"], row["episodes"]) + of_optimum(
        mean, ci, row.get("optimum")
    )


def text(rows: list[dict[str, Any]]) -> str:
    cells = [
        [f"{r['start_time']:%Y-%m-%d %H:%M}", r["status"], r["name"], r["run_id"], result(r)]
        for r in rows
    ]
    return tables.text(HEADERS, cells)


def run(cfg: DictConfig) -> list[dict[str, Any]]:
    """Print the matching runs (or say that none match); returns the rows."""
    rows = find(cfg)
    if rows:
        print(text(rows))
    else:
        given = {str(k): v for k, v in cfg.items() if v is not None and k != "limit"}
        shown = " ".join(
            f"{k}={OmegaConf.to_container(v) if OmegaConf.is_config(v) else v}"
            for k, v in given.items()
        )
        print(f"no runs{' match ' + shown if shown else ''} in {tracking.tracking_uri()}")
    return rows
