"""Find where an interrupted training stands: its MLflow run, config, output dir, checkpoint.

Checkpoints are loaded only from the run's own output directory (recorded as a tag when the
run started), never from a path named anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from omegaconf import DictConfig, OmegaConf

from rl_harness import checkpoints, tracking
from rl_harness.errors import ConfigError


@dataclass(frozen=True)
class ResumePoint:
    run_id: str
    cfg: DictConfig
    out_dir: Path
    checkpoint: Path


def find(run_id: str) -> ResumePoint:
    """Everything needed to continue `run_id`, or a one-line reason why it cannot be."""
    tracking.check_store()
    client = tracking.client()
    try:
        run = client.get_run(str(run_id))
    except MlflowException:
        raise ConfigError(f"resume={run_id}: no such MLflow run in "
                          f"{tracking.tracking_uri()}") from None
    tracking.mark_if_dead(client, run)
    run = client.get_run(str(run_id))
    if run.info.status == "FINISHED":
        raise ConfigError(f"resume={run_id}: the run already FINISHED; nothing to resume")
    if run.info.status == "RUNNING":
        raise ConfigError(f"resume={run_id}: the run is still RUNNING "
                          f"(pid {run.data.tags.get(tracking.PID_TAG)})")
    out = run.data.tags.get(tracking.OUT_DIR_TAG)
    if not out:
        raise ConfigError(f"resume={run_id}: the run has no {tracking.OUT_DIR_TAG} tag "
                          "(not started by rl_harness)")
    out_dir = Path(out)
    config_path = out_dir / "resolved_config.yaml"
    if not config_path.exists():
        raise ConfigError(f"resume={run_id}: {config_path} is missing")
    latest = checkpoints.latest(out_dir / "checkpoints")
    if latest is None:
        raise ConfigError(f"resume={run_id}: no checkpoint in {out_dir / 'checkpoints'} "
                          "(checkpoint.freq=0, or killed before the first one)")
    cfg = OmegaConf.load(config_path)
    assert isinstance(cfg, DictConfig)
    cfg.resume = None
    return ResumePoint(run_id=str(run_id), cfg=cfg, out_dir=out_dir, checkpoint=latest)
