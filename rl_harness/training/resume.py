"""Find where an interrupted training stands: its MLflow run, config, output dir, checkpoint.

Checkpoints are loaded only from the run's own output directory (recorded as a tag when the
run started), never from a path named anywhere else. Nothing here loads torch or SB3, so the
command line finds a resume that cannot happen before it loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rl_harness.errors import ConfigError
from rl_harness.tracking.store import OUT_DIR_TAG, PID_TAG, check_server_reachable, tracking_uri
from rl_harness.training import checkpoints


@dataclass(frozen=True)
class ResumePoint:
    run_id: str
    cfg: DictConfig
    out_dir: Path
    checkpoint: Path


def _missing_sqlite_store() -> str | None:
    """The tracking URI when it names a SQLite file that does not exist (so holds no run)."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        if not Path(uri.removeprefix("sqlite:///")).exists():
            return uri
    return None


def find(run_id: str) -> ResumePoint:
    """Everything needed to continue `run_id`, or a one-line reason why it cannot be."""
    if (uri := _missing_sqlite_store()) is not None:  # nothing to open, nothing to create
        raise ConfigError(f"resume={run_id}: no such MLflow run in {uri} (no such store)")
    check_server_reachable()  # as for a new run: before MLflow loads
    from rl_harness.tracking import runs as tracking

    tracking.check_store()
    client = tracking.client()
    run = tracking.find_run(str(run_id))
    if run is None:
        raise ConfigError(f"resume={run_id}: no such MLflow run in {tracking.tracking_uri()}")
    tracking.mark_if_dead(client, run)
    run = client.get_run(str(run_id))
    if run.info.status == "FINISHED":
        raise ConfigError(f"resume={run_id}: the run already FINISHED; nothing to resume")
    if run.info.status == "RUNNING":
        raise ConfigError(
            f"resume={run_id}: the run is still RUNNING (pid {run.data.tags.get(PID_TAG)})"
        )
    out = run.data.tags.get(OUT_DIR_TAG)
    if not out:
        raise ConfigError(
            f"resume={run_id}: the run has no {OUT_DIR_TAG} tag (not started by rl_harness)"
        )
    out_dir = Path(out)
    config_path = out_dir / "resolved_config.yaml"
    if not config_path.exists():
        raise ConfigError(f"resume={run_id}: {config_path} is missing")
    latest = checkpoints.latest(out_dir / "checkpoints")
    if latest is None:
        raise ConfigError(
            f"resume={run_id}: no checkpoint in {out_dir / 'checkpoints'} "
            "(checkpoint.freq=0, or killed before the first one)"
        )
    checkpoints.check(latest)
    cfg = OmegaConf.load(config_path)
    assert isinstance(cfg, DictConfig)
    cfg.resume = None
    return ResumePoint(run_id=str(run_id), cfg=cfg, out_dir=out_dir, checkpoint=latest)
