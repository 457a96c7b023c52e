"""The harness from Python (notebooks, scripts), with typed results.

The same configs, checks, one-line errors and MLflow records as the command line:

    from rl_harness.api import train, rerun, evaluate, compare

    result = train("ppo", "custom", ["seed=3", "n_timesteps=50000"])
    print(result.mean_reward, result.ci95, result.optimality, result.run_id)
    evaluate(result.run_id, ["episodes=100"])
    rerun(result.run_id)["same"]  # trained again from its record: the same weights and curves?
    compare(["experiment=Inventory-v0"])
    runs(algos="ppo", status="FINISHED", limit=5)  # newest first, as `python -m rl_harness.runs`

A mistake raises `rl_harness.errors.ConfigError` with the line the CLI prints, before anything
heavy loads. Each call writes to its own output directory (the CLI's `outputs/...` pattern,
relative to the working directory). `config_dir`: a directory of your own configs, searched
after the shipped ones (Hydra's search path), e.g. `my_conf/env/my_env.yaml` for `env=my_env`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from rl_harness.config import commands
from rl_harness.config.preflight import TRAINING, search_path
from rl_harness.errors import ConfigError


@dataclass(frozen=True)
class TrainResult:
    """A training run's result: the closing evaluation with its precision, and where it is.

    Attributes:
        run_id: The MLflow run's id; None with `mlflow.enabled=false`.
        mean_reward: The closing evaluation's mean return.
        ci95: Half-width of the 95% confidence interval of that mean.
        std_reward: The episodes' standard deviation (ddof=1).
        episodes: How many episodes the closing evaluation played.
        optimality: Mean return / the task's optimum, where the task has one (else None).
        optimality_ci95: `ci95` as a fraction of the optimum (None without one).
        timesteps: Environment steps trained.
        model_path: The saved model (`model.zip`).
        output_dir: The run's output directory (the model's).
    """

    run_id: str | None
    mean_reward: float
    ci95: float
    std_reward: float
    episodes: int
    optimality: float | None
    optimality_ci95: float | None
    timesteps: int
    model_path: Path
    output_dir: Path


def train(
    algo: str = "ppo",
    env: str = "cartpole",
    overrides: Sequence[str] = (),
    config_dir: str | Path | None = None,
) -> TrainResult:
    """Train, evaluate, save and record one run, as `python -m rl_harness algo=.. env=..`.

    Args:
        algo: An algorithm of `conf/algo/` (or of `config_dir`).
        env: An environment of `conf/env/` (or of `config_dir`).
        overrides: `key=value` overrides, as on the command line (no flags).
        config_dir: A directory of your own configs, searched after the shipped ones.

    Returns:
        The closing evaluation and where the run is.

    Raises:
        ConfigError: A bad override or config, before anything heavy loads.
    """
    cfg, out_dir = _compose(TRAINING, [f"algo={algo}", f"env={env}", *overrides], config_dir)
    from rl_harness.training.launch import train_config

    return _train_result(train_config(cfg, out_dir))


def _train_result(r: dict[str, Any]) -> TrainResult:
    from rl_harness.common.stats import ci95

    ci, best = ci95(r["returns"]), r["optimum"]
    return TrainResult(
        run_id=r["run_id"],
        mean_reward=r["mean_reward"],
        ci95=ci,
        std_reward=r["std_reward"],
        episodes=len(r["returns"]),
        optimality=r["mean_reward"] / best if best else None,
        optimality_ci95=ci / abs(best) if best else None,
        timesteps=r["timesteps"],
        model_path=Path(r["model_path"]),
        output_dir=Path(r["model_path"]).parent,
    )


def rerun(
    run_id: str,
    allow_drift: bool = False,
    overrides: Sequence[str] = (),
    config_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train a FINISHED run again from its record, as `python -m rl_harness rerun=<run id>`.

    Args:
        run_id: The FINISHED training run to train again.
        allow_drift: Go on where the code or package versions differ from the run's.
        overrides: Further `key=value` overrides.
        config_dir: A directory of your own configs, searched after the shipped ones.

    Returns:
        `result` (a TrainResult), `rerun_of`, and the verdict: `same`, `differences` (weights,
        history, final: lines, empty where equal), `drift` (what differed before it started,
        allowed).

    Raises:
        ConfigError: An unknown or unfinished run, or drift without `allow_drift`.
    """
    argv = [f"rerun={run_id}", f"rerun.allow_drift={str(allow_drift).lower()}", *overrides]
    cfg, out_dir = _compose(TRAINING, argv, config_dir)
    from rl_harness.analysis import rerun as reruns

    r = reruns.run(cfg, list(overrides), out_dir)
    verdict = r["rerun"]
    return {
        "result": _train_result(r),
        "rerun_of": run_id,
        "same": verdict.same,
        "differences": verdict.parts(),
        "drift": verdict.drift,
    }


def evaluate(run_id: str | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Evaluate a trained agent, as `python -m rl_harness.evaluate run_id=..`.

    Args:
        run_id: The training run whose model to evaluate; None with `model_path=..` in
            `overrides`.
        overrides: `key=value` overrides of `conf/evaluate.yaml`.

    Returns:
        The summary (`eval/*`, the returns, the evaluation run's id) and `output_dir`.

    Raises:
        ConfigError: A bad override, or no such run or model.
    """
    args = [*([f"run_id={run_id}"] if run_id else []), *overrides]
    cfg, out_dir = _compose("evaluate", args)
    from rl_harness.analysis import evaluate as evaluation

    return {**evaluation.run(cfg, out_dir), "output_dir": out_dir}


def compare(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Compare algorithms across seeds, as `python -m rl_harness.compare ..`.

    Args:
        overrides: `key=value` overrides of `conf/compare.yaml`.

    Returns:
        The rows (IQM, CIs, ...), the text table, the files written and `output_dir`.

    Raises:
        ConfigError: A bad override.
    """
    cfg, out_dir = _compose("compare", list(overrides))
    from rl_harness.analysis import compare as comparison

    return {**comparison.run(cfg, out_dir), "output_dir": out_dir}


def runs(
    experiment: str | None = None,
    algos: str | Sequence[str] | None = None,
    env_id: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The runs in the tracking store, newest first, as `python -m rl_harness.runs` lists them.

    Args:
        experiment: Only this MLflow experiment's runs; None: every experiment.
        algos: Only runs of this algorithm, or of these.
        env_id: Only runs of this env id.
        tag: `key=value`: only runs with this tag.
        status: Only runs in this state (RUNNING, FINISHED, FAILED, KILLED, SCHEDULED).
        limit: At most this many runs (the newest).

    Returns:
        One dict per run: name, run_id, experiment, status, start_time, run_type, algo, env,
        mean_reward, ci95, std_reward, episodes, optimality (None where the run has no result).

    Raises:
        ConfigError: A bad value (an unknown status, a limit below 1) or an unknown experiment.
    """
    given: dict[str, Any] = {"experiment": experiment, "algos": algos, "env_id": env_id}
    given |= {"tag": tag, "status": status, "limit": limit}
    cfg = commands.compose("runs", [])
    for key, value in given.items():  # values, not override strings: no quoting to get right
        cfg[key] = list(value) if isinstance(value, list | tuple) else value
    from rl_harness.analysis import run_list

    return run_list.find(cfg)


def _compose(
    name: str, argv: list[str], config_dir: str | Path | None = None
) -> tuple[DictConfig, Path]:
    """The CLI's checks, then the config and the output directory Hydra would have made."""
    if flags := [a for a in argv if a.startswith("-")]:
        raise ConfigError(f"'{flags[0]}': the Python API takes key=value overrides only")
    if config_dir is not None:
        path = Path(config_dir).resolve()
        if not path.is_dir():
            raise ConfigError(f"config_dir {path} is not a directory")
        argv = [*argv, search_path([path])]
    checked = commands.checked_argv(name, argv)
    cfg = commands.compose(name, checked, hydra=True)
    out_dir = Path(str(cfg.hydra.run.dir)).resolve()
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, out_dir  # training's values: train.validate, before anything is built
