"""Directories uploaded into a run's artifacts off the caller's path, each complete or not at all.

A training run hands over each checkpoint as it is written; a thread uploads its files, then a
small `COMPLETE` marker, last. A reader takes only directories with a marker, so a checkpoint
half-uploaded when its machine died is never the latest. This is what lets `resume=<run id>`
continue on a machine that shares nothing with the one that trained: the tracking server holds
the checkpoints (`mlflow server --serve-artifacts` sends them over HTTP).

    <run artifacts>/checkpoints/step_000012000/model.zip ... COMPLETE
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

MARKER = "COMPLETE"


class Uploads:
    """One background thread per run, uploading in the order handed over."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self._lock = threading.Lock()
        self.errors: list[str] = []

    def hand_over(self, local_dir: Path, artifact_path: str, keep: int = 0) -> None:
        """Upload `local_dir` (then delete it: it is the caller's to give away) under
        `artifact_path`; with `keep` > 0, delete all but the newest `keep` complete siblings."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="rl-harness-upload")
            self._pending.append(self._pool.submit(self._upload, local_dir, artifact_path, keep))

    def _upload(self, local_dir: Path, artifact_path: str, keep: int) -> None:
        try:
            files = sorted(p.name for p in local_dir.iterdir() if p.is_file())
            began = time.monotonic()
            self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)
            marker = {
                "files": files,
                "bytes": sum((local_dir / f).stat().st_size for f in files),
                "seconds": round(time.monotonic() - began, 3),  # what the upload took, aside
            }
            self.client.log_text(self.run_id, json.dumps(marker), f"{artifact_path}/{MARKER}")
            if keep > 0:
                self._prune(artifact_path.rsplit("/", 1)[0], keep)
        except Exception as e:  # noqa: BLE001 - recorded on the run; training goes on
            self.errors.append(f"{artifact_path}: {type(e).__name__}: {e}")
        finally:
            shutil.rmtree(local_dir, ignore_errors=True)

    def _prune(self, parent: str, keep: int) -> None:
        from rl_harness.common import compat

        run = self.client.get_run(self.run_id)
        for old in complete(self.client, self.run_id, parent)[:-keep]:
            compat.delete_artifacts(run.info.artifact_uri, old)

    def wait(self) -> list[str]:
        """Block until every handed-over directory is uploaded; the errors, if any."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        return self.errors


def complete(client: Any, run_id: str, parent: str) -> list[str]:
    """Artifact paths of the complete directories under `parent`, oldest (by name) first."""
    found = []
    for entry in client.list_artifacts(run_id, parent):
        if entry.is_dir and any(
            f.path.endswith("/" + MARKER) for f in client.list_artifacts(run_id, entry.path)
        ):
            found.append(entry.path)
    return sorted(found)


def download(client: Any, run_id: str, artifact_path: str, into: Path) -> Path:
    """Download a complete directory into `into/<its name>` (written aside, then renamed)."""
    into.mkdir(parents=True, exist_ok=True)
    final = into / Path(artifact_path).name
    with tempfile.TemporaryDirectory(dir=into, prefix=".download-") as tmp:
        got = Path(client.download_artifacts(run_id, artifact_path, tmp))
        (got / MARKER).unlink(missing_ok=True)
        if final.exists():
            shutil.rmtree(final)
        got.rename(final)
    return final
