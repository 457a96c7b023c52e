"""Starting a training run from a composed config, as the CLI, the Python API and `rerun` do:
the checks that can fail without torch come first (a resume that cannot happen, a tracking
server that takes no connection), then training itself. The layers above start training
here, never by importing training.train (torch, SB3) themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rl_harness.config.names import experiment_name
from rl_harness.config.runtime import output_dir


def train_config(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """train.run's result for a config composed from `conf/config.yaml` (not a sweep trial)."""
    point = None
    if cfg.get("resume") == "auto":
        from rl_harness.training import resume

        if cfg.mlflow.enabled:  # untracked runs leave nothing to find
            point = resume.find_auto(out_dir or output_dir(), experiment_name(cfg))
        cfg.resume = None  # a fresh run, where there was nothing to continue
    elif cfg.get("resume"):
        from rl_harness.training import resume

        point = resume.find(cfg.resume)
    elif cfg.mlflow.enabled:
        from rl_harness.tracking.store import check_server_reachable

        check_server_reachable()
    from rl_harness.training import train  # torch, SB3: after the cheap checks

    return train.run(cfg, point=point, out_dir=out_dir)


def train_recorded(
    cfg: DictConfig, run_tags: dict[str, str], out_dir: Path | None = None
) -> dict[str, Any]:
    """train.run's result for a config taken from a run's record (rerun), as a new run with
    `run_tags`; its checks (analysis.rerun's) are done."""
    from rl_harness.training import train  # torch, SB3: after the caller's checks

    return train.run(cfg, run_tags=run_tags, out_dir=out_dir)
