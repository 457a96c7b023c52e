"""A local cluster for trying many-machine runs on one laptop: PostgreSQL (Optuna's storage) and
an MLflow tracking server (PostgreSQL backend, artifacts served over HTTP) on loopback.

    python -m rl_harness.cluster up       # or `make cluster-up`: starts both, prints the URLs
    python -m rl_harness.cluster status   # the URLs again, if it is up
    python -m rl_harness.cluster down     # or `make cluster-down` (PURGE=1 deletes the data)
    python -m rl_harness.cluster workers N <sweep overrides>   # N sweep workers, a SLURM array

A worker needs only the two URLs it prints, so the same commands work across machines once the
two services run somewhere every machine reaches. Everything lives in `.cluster/` (or
$RL_HARNESS_CLUSTER_DIR): the database files, the artifacts, the logs, the ports in use.
PostgreSQL comes from the machine (Debian: `apt-get install postgresql`; macOS: `brew install
postgresql`); as root, it runs as the `postgres` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from rl_harness.errors import ConfigError

USER = "rl_harness"
DATABASES = ("optuna", "mlflow")
# Many training clients write at once (issue 16: 16 on loopback): a larger SQLAlchemy pool per
# server worker, and room for it in PostgreSQL.
SERVER_WORKERS = max(2, os.cpu_count() or 2)
SERVER_ENV = {"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "10", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "20"}
MAX_CONNECTIONS = 300
START_TIMEOUT_S = 180.0


@dataclass
class Cluster:
    root: str
    pg_port: int
    mlflow_port: int
    mlflow_pid: int

    @property
    def storage_url(self) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.pg_port}/optuna"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def mlflow_db(self) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.pg_port}/mlflow"


def cluster_dir() -> Path:
    return Path(os.environ.get("RL_HARNESS_CLUSTER_DIR") or ".cluster").resolve()


def _state_file(root: Path) -> Path:
    return root / "cluster.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    """A PostgreSQL program: on PATH, else Debian's versioned directory (newest)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for bindir in reversed(versions):
        if (bindir / name).exists():
            return str(bindir / name)
    raise ConfigError(
        f"PostgreSQL's {name} was not found: install PostgreSQL (Debian: apt-get install "
        "postgresql; macOS: brew install postgresql)"
    )


def _as_db_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: there, run as the `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser") is None:
        raise ConfigError("running as root needs `runuser` to start PostgreSQL as user postgres")
    return ["runuser", "-u", "postgres", "--", *cmd]


def _own_for_db(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"{what} failed (exit {done.returncode}): {tail[0]}")


def start_postgres(root: Path, port: int) -> None:
    """A database cluster of our own in root/pg (created once), on 127.0.0.1:port."""
    data, sockets = root / "pg", root / "pg-sockets"
    sockets.mkdir(parents=True, exist_ok=True)
    _own_for_db(sockets)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        _own_for_db(data)
        initdb = [_pg_bin("initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8"]
        _run(_as_db_owner([*initdb, "--no-sync"]), "initdb")
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} "
        f"-c max_connections={MAX_CONNECTIONS}"
    )
    log = root / "postgres.log"
    log.touch()
    _own_for_db(log)
    pg_ctl = [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
    _run(_as_db_owner(pg_ctl), f"starting PostgreSQL (log: {log})")
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user=USER, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        for db in DATABASES:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()


def start_mlflow(root: Path, cluster: Cluster) -> int:
    """`mlflow server` with the PostgreSQL backend, serving artifacts from root/artifacts."""
    mlflow = Path(sys.executable).parent / "mlflow"
    cmd = [
        str(mlflow) if mlflow.exists() else "mlflow",
        *("server", "--backend-store-uri", cluster.mlflow_db),
        *("--artifacts-destination", str(root / "artifacts"), "--serve-artifacts"),
        *("--host", "127.0.0.1", "--port", str(cluster.mlflow_port)),
        *("--workers", str(SERVER_WORKERS)),
    ]
    log = (root / "mlflow.log").open("ab")
    env = {**os.environ, **SERVER_ENV}
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"mlflow server exited {proc.returncode}: see {root / 'mlflow.log'}")
        if _answers(cluster, SERVER_WORKERS):
            return proc.pid
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise ConfigError(f"mlflow server did not answer in {START_TIMEOUT_S:.0f} s: see its log")


def load(root: Path) -> Cluster | None:
    try:
        return Cluster(**json.loads(_state_file(root).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _answers(cluster: Cluster, times: int = 1) -> bool:
    """The server answers a store query `times` times in a row (each worker has started and
    reached PostgreSQL, not only the first to answer /health)."""
    query = f"{cluster.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    try:
        for _ in range(times):
            with urllib.request.urlopen(query, timeout=5) as r:
                if r.status != 200:
                    return False
    except OSError:
        return False
    return True


def running(cluster: Cluster) -> bool:
    return _answers(cluster)


def up(root: Path) -> Cluster:
    """Start both services (or find them up) and record their ports."""
    root.mkdir(parents=True, exist_ok=True)
    found = load(root)
    if found is not None and running(found):
        return found
    pg_port = found.pg_port if found else _free_port()
    cluster = Cluster(str(root), pg_port, _free_port(), 0)
    start_postgres(root, pg_port)
    cluster.mlflow_pid = start_mlflow(root, cluster)
    _state_file(root).write_text(json.dumps(asdict(cluster)))
    return cluster


def _stop_group(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM the server's process group (its workers too), SIGKILL what is left at `timeout`."""
    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while True:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child, when `up` ran in this process


def down(root: Path, purge: bool = False) -> None:
    """Stop the MLflow server and PostgreSQL; `purge` deletes their data too."""
    cluster = load(root)
    if cluster is not None and cluster.mlflow_pid:
        _stop_group(cluster.mlflow_pid)
    if (root / "pg" / "postmaster.pid").exists():
        pg_ctl = [_pg_bin("pg_ctl"), "-D", str(root / "pg"), "-m", "fast", "-w", "stop"]
        _run(_as_db_owner(pg_ctl), "stopping PostgreSQL")
    _state_file(root).unlink(missing_ok=True)
    if purge:
        shutil.rmtree(root, ignore_errors=True)


SBATCH = """#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task={cpus}
#SBATCH --mem={mem_gb}G
#SBATCH --requeue
#SBATCH --output={logs}/worker-%a.log
{extra}
# Sweep workers of one study; they share nothing but the Optuna storage and the tracking server.
# Task 0 is the lead (it opens the study's MLflow parent run and writes the report); task i is
# worker 10*i. Pre-empted and requeued, a task runs this again: the study resumes.
export MLFLOW_TRACKING_URI={tracking_uri}
cd {cwd}
exec {python} -m rl_harness -m {overrides} hydra.sweeper.storage={storage} \\
    hydra.sweeper.n_workers=1 hydra.sweeper.worker=$((SLURM_ARRAY_TASK_ID * 10))
"""


def sbatch_workers(
    n: int,
    overrides: list[str],
    storage: str,
    tracking_uri: str,
    cpus: int = 1,
    mem_gb: int = 2,
    sbatch_args: list[str] | None = None,
    logs: Path | None = None,
) -> str:
    """Submit `n` sweep workers as one SLURM job array; returns the job id.

    Each task is one worker (`hydra.sweeper.worker` 0, 10, 20, ...) needing only the two URLs."""
    if n < 1:
        raise ConfigError(f"workers must be at least 1, got {n}")
    if shutil.which("sbatch") is None:
        raise ConfigError("sbatch was not found: run this on a SLURM login node")
    study = next(
        (o.split("=", 1)[1] for o in overrides if o.startswith("hydra.sweeper.study_name=")), None
    )
    if not study:
        raise ConfigError("name the study: hydra.sweeper.study_name=<name> (every worker joins it)")
    logs = (logs or Path("sweeps") / study / "slurm").resolve()
    logs.mkdir(parents=True, exist_ok=True)
    script = SBATCH.format(
        name=f"rl-sweep-{study}",
        last=n - 1,
        cpus=cpus,
        mem_gb=mem_gb,
        logs=logs,
        extra="\n".join(f"#SBATCH {a}" for a in sbatch_args or []),
        tracking_uri=tracking_uri,
        cwd=shlex.quote(str(Path.cwd())),
        python=sys.executable,
        overrides=" ".join(shlex.quote(o) for o in overrides),
        storage=shlex.quote(storage),
    )
    path = logs / "workers.sbatch"
    path.write_text(script)
    done = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"sbatch refused {path}: {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]


def describe(cluster: Cluster) -> str:
    return f"""\
Optuna storage (PostgreSQL): {cluster.storage_url}
MLflow tracking server:      {cluster.tracking_uri}   (its UI too)

A worker, on this machine or any that reaches both (each machine a distinct worker number):
  export MLFLOW_TRACKING_URI={cluster.tracking_uri}
  python -m rl_harness -m sweep=ppo env=cartpole n_timesteps=20000 \\
      hydra.sweeper.storage={cluster.storage_url} \\
      hydra.sweeper.study_name=cluster-demo hydra.sweeper.n_trials=8 hydra.sweeper.worker=0
Stop both: make cluster-down   (PURGE=1 also deletes {cluster.root})"""


def workers_main(argv: list[str]) -> int:
    """`workers N <sweep overrides>`: the URLs from the environment (MLFLOW_TRACKING_URI and
    RL_HARNESS_OPTUNA_STORAGE), else from the local cluster."""
    if not argv or not argv[0].isdigit():
        print("usage: python -m rl_harness.cluster workers N <sweep overrides>", file=sys.stderr)
        return 2
    local = load(cluster_dir())
    storage = os.environ.get("RL_HARNESS_OPTUNA_STORAGE") or (local.storage_url if local else "")
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (local.tracking_uri if local else "")
    if not storage or not uri.startswith(("http://", "https://")):
        print(
            "error: workers need RL_HARNESS_OPTUNA_STORAGE (an RDB URL) and MLFLOW_TRACKING_URI "
            "(a tracking server), or a local cluster (make cluster-up)",
            file=sys.stderr,
        )
        return 2
    try:
        job = sbatch_workers(int(argv[0]), argv[1:], storage, uri)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"submitted {argv[0]} workers as SLURM job array {job} (squeue -j {job})")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "up"
    if command == "workers":
        return workers_main(argv[1:])
    if command not in ("up", "down", "status") or len(argv) > 2 or argv[1:] not in ([], ["purge"]):
        usage = "up | status | down [purge] | workers N <sweep overrides>"
        print(f"usage: python -m rl_harness.cluster {usage}", file=sys.stderr)
        return 2
    root = cluster_dir()
    try:
        if command == "down":
            down(root, purge=argv[1:] == ["purge"])
            print(f"cluster in {root}: stopped" + (" and deleted" if argv[1:] else ""))
            return 0
        cluster = up(root) if command == "up" else load(root)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if cluster is None or not running(cluster):
        print(f"no cluster running in {root}: make cluster-up", file=sys.stderr)
        return 1
    print(describe(cluster))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
