"""MLflow in one place: the run lifecycle, an SB3 logger output that writes to MLflow, artifacts.

Nothing else in the harness imports mlflow (model flavours aside). A run always ends in a final
state: FINISHED, FAILED (exception; the error is tagged and attached) or KILLED (Ctrl-C).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from rl_harness.common import compat, liveness, provenance
from rl_harness.errors import ConfigError
from rl_harness.tracking.recorder import Tasks, run_task
from rl_harness.tracking.store import (  # noqa: F401 - tracking_uri is read here too
    HEARTBEAT_TAG,
    HOST_TAG,
    INTERVAL_TAG,
    OUT_DIR_TAG,
    PID_TAG,
    check_server_reachable,
    first_open_lock,
    owner_of,
    owner_tags,
    sqlite_path,
    tracking_uri,
    unreachable,
)
from rl_harness.tracking.uploads import Uploads

MAX_PARAM_LEN = 6000
BATCH_LIMIT = 1000  # MLflow's per-request cap on metrics


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping → dotted keys, the way params appear in the MLflow UI."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


class MetricBuffer:
    """Metrics sent in one batch at most every `flush_secs`: logging costs a few database
    writes per minute however often the algorithm dumps."""

    def __init__(self, client: MlflowClient, run_id: str, flush_secs: float = 5.0) -> None:
        self.client, self.run_id, self.flush_secs = client, run_id, flush_secs
        self._buffer: list[Metric] = []
        self._last_flush = time.monotonic()

    def add(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self._buffer.extend(Metric(k, float(v), now, int(step)) for k, v in values.items())
        if time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()

    def flush(self) -> None:
        for i in range(0, len(self._buffer), BATCH_LIMIT):
            self.client.log_batch(self.run_id, metrics=self._buffer[i : i + BATCH_LIMIT])
        self._buffer.clear()
        self._last_flush = time.monotonic()


class MlflowRecorder:
    """A `recorder.Recorder` that writes one MLflow run from this process."""

    def __init__(self, client: MlflowClient, run_id: str, tasks: Tasks | None = None) -> None:
        self.client, self.run_id = client, run_id
        self.tasks: Tasks = tasks or {}
        self.uploads = Uploads(client, run_id)
        self.metrics = MetricBuffer(client, run_id)  # what SB3's logger dumps (writer)

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)[:MAX_PARAM_LEN]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if Path(path).exists():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def hand_over_dir(self, path: str | Path, artifact_path: str, keep: int = 0) -> None:
        self.metrics.flush()  # a checkpoint's curves reach the store before it: a resume goes on
        self.uploads.hand_over(Path(path), artifact_path, keep)

    def writer(self) -> Any:
        """An SB3 logger output format (SB3 is imported here, not by the recording helper)."""
        from rl_harness.tracking.logger_output import MetricsOutput

        return MetricsOutput(self.metrics.add, self.metrics.flush)

    def ready(self) -> None:
        """The store was checked before the run opened (the helper-process recorder waits here)."""

    def run_task(self, name: str, *args: Any) -> None:
        run_task(self.tasks, self, name, args)


# MLflow's UI opens an experiment on its GenAI overview (traces) unless the experiment says it
# holds model training runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    """Experiment id by name; safe when several processes create it at once."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if not exp.tags.get("mlflow.experimentKind"):  # made before the tag, or by hand
            client.set_experiment_tag(exp.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        return exp.experiment_id
    try:
        return client.create_experiment(name, tags=EXPERIMENT_KIND)
    except MlflowException:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def check_store() -> None:
    """Reach the tracking store now rather than fail after training. A server that refuses the
    connection fails in milliseconds (`store.check_server_reachable`); one that takes it may be
    busy (16 clients starting at once on 2 cores answer in seconds): 30 s and two retries."""
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    uri = tracking_uri()
    check_server_reachable(uri)
    saved = {
        v.name: os.environ.get(v.name)
        for v in (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT)
    }
    os.environ.update(
        {MLFLOW_HTTP_REQUEST_MAX_RETRIES.name: "2", MLFLOW_HTTP_REQUEST_TIMEOUT.name: "30"}
    )
    try:
        _client_for(uri).search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 - any failure here means the store is unusable
        text = " ".join(str(e).split())
        errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
        reason = errno.group(0).strip() if errno else text[:200]
        raise unreachable(uri, reason) from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def mark_if_dead(client: MlflowClient, run: Any) -> bool:
    """A RUNNING run whose process is gone died without a word: mark it FAILED. On its own host
    the process table tells; from another host, a heartbeat that stopped (common.liveness).

    `run` may be an old snapshot (a search's): a process that ended its run and then exited
    looks dead in it. A process ends its run before it exits, so the run read again once its
    process is seen gone tells which it was."""
    if run.info.status != "RUNNING" or _why_dead(run) is None:
        return False
    run = client.get_run(run.info.run_id)
    error = _why_dead(run) if run.info.status == "RUNNING" else None
    if error is None:
        return False
    client.set_tag(run.info.run_id, "error", error)
    client.set_terminated(run.info.run_id, "FAILED")
    return True


def _why_dead(run: Any) -> str | None:
    """Why a run's process is gone, or None while it lives."""
    tags = run.data.tags
    if tags.get(HOST_TAG) != socket.gethostname():
        interval = float(tags.get(INTERVAL_TAG, liveness.INTERVAL_S))
        reason = liveness.stale(tags.get(HEARTBEAT_TAG), interval=interval)
        if reason is None:
            return None
        return f"process {tags.get(PID_TAG)} on {tags.get(HOST_TAG)} is gone: {reason}"
    who = owner_of(tags)
    if who.pid == os.getpid() or who.alive():
        return None
    return f"process {who.pid} died without ending the run"


def mark_dead_runs(client: MlflowClient, experiment_id: str) -> int:
    """Sweep an experiment for runs left RUNNING by dead processes (called at every start)."""
    runs = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=200)
    return sum(mark_if_dead(client, r) for r in runs)


@contextmanager
def mlflow_run(
    experiment: str,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    tasks: Tasks | None = None,
    unique_name: bool = False,
    system_metrics: bool = False,
) -> Iterator[MlflowRecorder]:
    """Open (or, with `run_id`, reopen) a run; it always ends FINISHED, FAILED or KILLED.

    The process id and host are tagged, so a run whose process dies without a word is found
    RUNNING-but-dead by the next start in the same experiment and marked FAILED.
    `unique_name`: a name the experiment already has gets a suffix (`-2`, `-3`, ...);
    `system_metrics`: MLflow's own CPU / memory (/ GPU) sampling, `system/*`, while it is open.
    """
    client = _client_for(tracking_uri())
    exp_id = get_or_create_experiment(client, experiment)
    mark_dead_runs(client, exp_id)
    if unique_name and run_name and run_id is None:
        run_name = free_name(client, exp_id, run_name)
    all_tags = {
        "command": " ".join(sys.argv),
        **owner_tags(),
        INTERVAL_TAG: liveness.INTERVAL_S,
    }
    all_tags.update(provenance.git_state().tags())  # the harness's commit, and if it is dirty
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    all_tags.update(tags or {})
    if run_id is None:
        run = client.create_run(
            exp_id, run_name=run_name, tags={k: str(v) for k, v in all_tags.items()}
        )
    else:
        # This process's pid before the status: a start beside it that sweeps between the two
        # would find a RUNNING run owned by the dead pid of its last attempt, and fail it.
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in all_tags.items()])
        client.update_run(run_id, status="RUNNING")
        run = client.get_run(run_id)
    recorder = MlflowRecorder(client, run.info.run_id, tasks)
    monitor = (
        _start_monitor(run.info.run_id, resumed=run_id is not None) if system_metrics else None
    )
    beat = ExitStack()  # the process's heartbeat tags the run while it is open
    beat.enter_context(liveness.heartbeat(tag_beat(client, run.info.run_id)))
    try:
        yield recorder
    except KeyboardInterrupt:
        _wind_down(recorder, monitor, beat)
        client.set_terminated(run.info.run_id, "KILLED")
        raise
    except BaseException as e:
        _wind_down(recorder, monitor, beat)
        _record_failure(recorder, e)
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    _wind_down(recorder, monitor, beat)
    client.set_terminated(run.info.run_id, "FINISHED")


def tag_beat(client: MlflowClient, run_id: str) -> liveness.Action:
    """A heartbeat action: the run's HEARTBEAT_TAG set to now (Unix seconds)."""
    return lambda: client.set_tag(run_id, HEARTBEAT_TAG, f"{time.time():.0f}")


def _wind_down(recorder: MlflowRecorder, monitor: Any, beat: ExitStack) -> None:
    """Before the run ends: the uploads handed over finish (a failed one is tagged, not fatal:
    the run's own result stands), and the system-metrics sampler logs its last samples."""
    if errors := recorder.uploads.wait():
        recorder.set_tags({"rl_harness.upload_errors": "; ".join(errors)[:5000]})
        print(f"rl_harness: {len(errors)} upload(s) failed: {errors[0]}", file=sys.stderr)
    _stop_monitor(monitor)
    beat.close()


def _start_monitor(run_id: str, resumed: bool) -> Any:
    """MLflow's system-metrics sampler on a thread of this process (the helper, for a CLI run):
    CPU and memory are the machine's, whatever process samples them. Never fails the run."""
    # Its INFO lines ("Started monitoring system metrics.", four a run) would interleave with a
    # sweep's own output; warnings and errors still show.
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    try:
        monitor = compat.system_metrics_monitor(run_id, tracking_uri(), resumed)
        monitor.start()
        return monitor
    except Exception as e:  # noqa: BLE001 - e.g. psutil missing: the run goes on without them
        print(f"rl_harness: system metrics off: {e}", file=sys.stderr)
        return None


def _stop_monitor(monitor: Any) -> None:
    """Its last samples are logged before the run ends (one at least, however short the run)."""
    if monitor is not None:
        try:
            compat.finish_system_metrics(monitor)
        except Exception as e:  # noqa: BLE001
            print(f"rl_harness: system metrics not completed: {e}", file=sys.stderr)


def free_name(client: MlflowClient, experiment_id: str, name: str) -> str:
    """`name`, or `name-2`, `name-3`, ... : the first one no run of the experiment has."""
    pattern = name.replace("'", "\\'")
    taken = {
        r.info.run_name
        for r in client.search_runs(
            [experiment_id], f"attributes.run_name LIKE '{pattern}%'", max_results=5000
        )
    }
    if name not in taken:
        return name
    return next(f"{name}-{k}" for k in range(2, len(taken) + 3) if f"{name}-{k}" not in taken)


def run_exists(run_id: str) -> bool:
    """Whether a run can be reopened (it exists and is not deleted), e.g. a sweep's parent."""
    try:
        return _client_for(tracking_uri()).get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


def adopt(experiment: str, match: Mapping[str, str], parent_run_id: str) -> int:
    """Nest under `parent_run_id` the runs of `experiment` whose tags equal `match` and that
    have no parent (a sweep worker that started before the lead had opened the parent run)."""
    client = _client_for(tracking_uri())
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in match.items())
    orphans = [
        run.info.run_id
        for run in client.search_runs([exp.experiment_id], where, max_results=5000)
        if "mlflow.parentRunId" not in run.data.tags and run.info.run_id != parent_run_id
    ]
    for run_id in orphans:
        client.set_tag(run_id, "mlflow.parentRunId", parent_run_id)
    return len(orphans)


def update_runs(
    experiment: str,
    match: Mapping[str, str],
    tags: Mapping[str, Any],
    end_running: str | None = None,
) -> list[str]:
    """Tag the runs of `experiment` whose tags equal `match` (a sweep tags its trials' runs once
    they end); with `end_running` ("KILLED"), also end those left RUNNING by a dead process."""
    client = _client_for(tracking_uri())
    ids = []
    for run in _matching(client, experiment, match):
        MlflowRecorder(client, run.info.run_id).set_tags(tags)
        if end_running and run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, end_running)
        ids.append(run.info.run_id)
    return ids


def unfinished_runs(experiment: str, match: Mapping[str, str]) -> list[str]:
    """The runs of `experiment` whose tags equal `match` and that have not FINISHED, newest
    first: work to continue (`resume.find` tells whether a RUNNING one is dead)."""
    found = _matching(_client_for(tracking_uri()), experiment, match)
    found = [r for r in found if r.info.status != "FINISHED"]
    return [r.info.run_id for r in sorted(found, key=lambda r: -r.info.start_time)]


def _matching(client: MlflowClient, experiment: str, match: Mapping[str, str]) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in match.items())
    return list(client.search_runs([exp.experiment_id], where, max_results=1000))


def failed_run(
    experiment: str, run_name: str, tags: Mapping[str, Any], params: Mapping[str, Any], error: str
) -> str:
    """A FAILED run for work that failed before it could open its own (a sweep trial whose
    model could not be built), so the failure is visible beside the runs that did start."""
    client = _client_for(tracking_uri())
    run = client.create_run(
        get_or_create_experiment(client, experiment),
        run_name=run_name,
        tags={k: str(v) for k, v in {**tags, "error": error}.items()},
    )
    recorder = MlflowRecorder(client, run.info.run_id)
    recorder.log_params(params)
    client.set_terminated(run.info.run_id, "FAILED")
    return run.info.run_id


def _record_failure(recorder: MlflowRecorder, error: BaseException) -> None:
    """Best effort: the run must still be marked FAILED if this itself fails.

    An error raised in another process (the trainer, when a helper records the run) arrives
    with its own `summary` and `details` (its traceback there)."""
    try:
        summary = getattr(error, "summary", None) or f"{type(error).__name__}: {error}"
        details = getattr(error, "details", None) or "".join(traceback.format_exception(error))
        recorder.set_tags({"error": summary[:5000]})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "error.txt"
            path.write_text(details)
            recorder.log_artifact(path)
    except Exception:  # noqa: BLE001 - the original error is what matters
        pass


# ---------------------------------------------------------------- reading runs back


def client() -> MlflowClient:
    """One client per tracking URI and process: constructing one costs ~0.2 s (store setup)."""
    return _client_for(tracking_uri())


def client_for(uri: str) -> MlflowClient:
    """The client of a store named by its URI rather than by MLFLOW_TRACKING_URI (a benchmark's
    scratch store), set up as `client()`'s is: under the store's first-open lock."""
    return _client_for(uri)


@lru_cache(maxsize=8)
def _client_for(uri: str) -> MlflowClient:
    """A client whose store is set up: a SQLite store's tables are created or migrated by the
    first query, under `first_open_lock`; MLflow caches the store, so that happens once."""
    with first_open_lock(uri):
        made = MlflowClient(uri)
        if sqlite_path(uri) is not None:
            made.search_experiments(max_results=1)
    return made


def find_run(run_id: str) -> Any | None:
    """The run, or None where the store has no such run."""
    try:
        return client().get_run(run_id)
    except MlflowException:
        return None


def get_run(run_id: str) -> Any:
    """The run, or a ConfigError naming the store that lacks it."""
    try:
        return client().get_run(run_id)
    except MlflowException as e:
        raise ConfigError(
            f"no MLflow run '{run_id}' in {tracking_uri()}: {str(e).splitlines()[0]}"
        ) from None


def experiment_name(experiment_id: str) -> str:
    return client().get_experiment(experiment_id).name


def download(run_id: str, artifact: str, dst: Path) -> Path | None:
    """One artifact of a run into `dst`; None when the run has no such artifact."""
    parent, _, name = artifact.rpartition("/")
    c = client()
    if name not in {Path(f.path).name for f in c.list_artifacts(run_id, parent or None)}:
        return None
    return Path(c.download_artifacts(run_id, artifact, str(dst)))


def search_runs(
    experiments: list[str] | None = None,
    filter_string: str = "",
    *,
    finished: bool = True,
    limit: int | None = None,
) -> list[Any]:
    """Runs of the named experiments (all experiments when None), newest first: the finished
    ones (`finished=False`: any status), at most `limit`."""
    c = client()
    if experiments:
        exps = [c.get_experiment_by_name(name) for name in experiments]
        ids = [e.experiment_id for e in exps if e is not None]
    else:
        ids = [e.experiment_id for e in c.search_experiments()]
    if not ids:
        return []
    filters = (["attributes.status = 'FINISHED'"] if finished else []) + (
        [filter_string] if filter_string else []
    )
    runs: list[Any] = []
    token: str | None = None
    while limit is None or len(runs) < limit:
        page = c.search_runs(
            ids,
            " and ".join(filters),
            max_results=1000 if limit is None else min(1000, limit - len(runs)),
            page_token=token,
            order_by=["attributes.start_time DESC"],
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    return runs


def experiment_names() -> list[str]:
    """The experiments in the store (deleted ones not)."""
    return sorted(e.name for e in client().search_experiments())


def log_table(recorder: MlflowRecorder, rows: list[dict[str, Any]], artifact_file: str) -> None:
    """Rows (dicts with the same keys) as an MLflow table artifact, which the UI shows as a
    table; numpy numbers become plain ones."""
    if recorder.run_id is None or not rows:
        return
    plain = json.loads(json.dumps(rows, default=float))
    columns = {key: [row.get(key) for row in plain] for key in plain[0]}
    recorder.client.log_table(recorder.run_id, data=columns, artifact_file=artifact_file)


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric, in step order."""
    return sorted((m.step, m.value) for m in client().get_metric_history(run_id, key))


def log_series(recorder: MlflowRecorder, key: str, values: list[float]) -> None:
    """One metric stepped 0, 1, 2, ... (e.g. per-episode returns), in batches."""
    if recorder.run_id is None:
        return
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(v), now, i) for i, v in enumerate(values)]
    for i in range(0, len(metrics), BATCH_LIMIT):
        recorder.client.log_batch(recorder.run_id, metrics=metrics[i : i + BATCH_LIMIT])


# Artifact downloads (evaluate, model logging) would print tqdm bars into training output.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
