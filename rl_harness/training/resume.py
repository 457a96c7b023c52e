"""Find where an interrupted training stands: its MLflow run, config, output dir, checkpoint.

Checkpoints are loaded only from the run's own output directory (recorded as a tag when the
run started) or from the run's own artifacts (`checkpoint.upload`: the tracking store holds
them, so any machine can continue the run), never from a path named anywhere else. The newer of
the two wins. Nothing here loads torch or SB3, so the command line finds a resume that cannot
happen before it loads them; `fetch` downloads a stored checkpoint once training starts.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_harness.errors import ConfigError
from rl_harness.tracking import uploads
from rl_harness.tracking.store import (
    OUT_DIR_TAG,
    PID_TAG,
    check_server_reachable,
    sqlite_path,
    tracking_uri,
)
from rl_harness.training import checkpoints

CONFIG = "resolved_config.yaml"
CHECKPOINTS = "checkpoints"  # the local folder and the artifact folder alike
EVALUATIONS = "evaluations.npz"


class StillRunning(ConfigError):
    """The run is RUNNING and nothing shows its process dead (yet: another machine's run is
    judged by its heartbeat, which goes stale minutes after the machine is lost)."""


@dataclass(frozen=True)
class ResumePoint:
    run_id: str
    cfg: DictConfig
    out_dir: Path
    checkpoint: Path
    stored: str | None = None  # the artifact path of the checkpoint, where it is to be fetched


def missing_sqlite_store() -> str | None:
    """The tracking URI when it names a SQLite file that does not exist (so holds no run)."""
    uri = tracking_uri()
    path = sqlite_path(uri)
    return uri if path is not None and not path.exists() else None


def find(run_id: str) -> ResumePoint:
    """Everything needed to continue `run_id`, or a one-line reason why it cannot be."""
    if (uri := missing_sqlite_store()) is not None:  # nothing to open, nothing to create
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
        raise StillRunning(
            f"resume={run_id}: the run is still RUNNING (pid {run.data.tags.get(PID_TAG)})"
        )
    out = run.data.tags.get(OUT_DIR_TAG)
    out_dir = Path(out or ".")
    local = _local_checkpoint(out_dir) if out else None
    stored = uploads.complete(client, str(run_id), CHECKPOINTS)
    if stored and (local is None or Path(stored[-1]).name > local.name):
        cfg = stored_config(client, str(run_id))
        cfg.resume = None
        checkpoint = Path(stored[-1])
        return ResumePoint(str(run_id), cfg, out_dir, checkpoint, stored=stored[-1])
    if not out and not stored:
        raise ConfigError(
            f"resume={run_id}: the run has no {OUT_DIR_TAG} tag (not started by rl_harness)"
        )
    if local is None:
        raise ConfigError(
            f"resume={run_id}: no checkpoint in {out_dir / CHECKPOINTS} on this machine nor in "
            "the run's artifacts (checkpoint.freq=0, killed before the first one, or "
            "checkpoint.upload off on another machine)"
        )
    checkpoints.check(local)
    local_cfg = OmegaConf.load(out_dir / CONFIG)
    assert isinstance(local_cfg, DictConfig)
    local_cfg.resume = None
    return ResumePoint(run_id=str(run_id), cfg=local_cfg, out_dir=out_dir, checkpoint=local)


def find_auto(out_dir: Path, experiment: str) -> ResumePoint | None:
    """`resume=auto`: continue the newest unfinished run that wrote to `out_dir` — this very job
    ran before (a pre-empted SLURM job resubmitted by submitit, a fixed `hydra.run.dir`
    rerun) — or None to start a new run, saying why where there was one to continue."""
    if missing_sqlite_store() is not None:
        return None
    check_server_reachable()
    from rl_harness.tracking import runs as tracking

    tracking.check_store()
    found = tracking.unfinished_runs(experiment, {OUT_DIR_TAG: str(out_dir)})
    if not found:
        return None
    try:
        return find(found[0])
    except ConfigError as e:
        print(f"rl_harness: resume=auto starts a new run: {e}", file=sys.stderr)
        return None


def _local_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run's output directory, if it is on this machine."""
    if not (out_dir / CONFIG).exists():
        return None
    return checkpoints.latest(out_dir / CHECKPOINTS)


def stored_config(client: Any, run_id: str, command: str = "resume") -> DictConfig:
    """The run's recorded config from its artifacts; `command` (resume, rerun) names the one-line
    refusal where it is missing or unreadable."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, CONFIG, tmp)
        except Exception as e:  # noqa: BLE001 - any failure: the run cannot be taken up again
            raise ConfigError(
                f"{command}={run_id}: its {CONFIG} is not in its artifacts ({e})"
            ) from None
        cfg = OmegaConf.load(path)
    assert isinstance(cfg, DictConfig)
    return cfg


def fetch(point: ResumePoint, out_dir: Path) -> ResumePoint:
    """A stored checkpoint, downloaded into this machine's `out_dir` (with the run's config and
    evaluation history), as a point to continue from; a local point as it is."""
    if point.stored is None:
        return point
    from rl_harness.tracking import runs as tracking

    client = tracking.client()
    checkpoint = uploads.download(client, point.run_id, point.stored, out_dir / CHECKPOINTS)
    history = checkpoint / EVALUATIONS  # staged with the checkpoint (training.train)
    if history.exists():
        history.replace(out_dir / EVALUATIONS)
    OmegaConf.save(point.cfg, out_dir / CONFIG)
    return ResumePoint(point.run_id, point.cfg, out_dir, checkpoint)
