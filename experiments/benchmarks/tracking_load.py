"""Many training clients, one MLflow tracking server: does every metric point arrive?

Starts a local cluster (PostgreSQL + `mlflow server`, as `make cluster-up` does) in a temporary
directory, or uses `--uri`, then N concurrent `python -m rl_harness` PPO CartPole runs, each its
own process tree (trainer + recording helper), with checkpoints uploaded to the server. Checks,
per run: exit code 0, MLflow status FINISHED with no "error" tag (no other client judged it dead
while it ran), and every point of every metric SB3 wrote to the run's `progress.csv` present in
the run's MLflow history (as many values, none missing); then the server log's errors. Prints a
table; a failed client's log goes to stderr.

    python -m experiments.benchmarks.tracking_load                   # 16 clients, 4096 steps each
    python -m experiments.benchmarks.tracking_load --clients 4 --timesteps 2048
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments.lib import records
from experiments.lib.common import ROOT
from rl_harness import cluster
from rl_harness.common import tables


def client_command(i: int, steps: int, experiment: str, out: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "rl_harness", "algo=ppo", "env=cartpole"),
        *(f"n_timesteps={steps}", f"seed={i}", "eval.freq=1024", "eval.episodes=2"),
        *("checkpoint.freq=1024", "progress_bar=false", f"mlflow.experiment={experiment}"),
        f"hydra.run.dir={out}",
    ]


def expected_points(out: Path) -> dict[str, int]:
    """Per metric, how many points SB3 wrote to progress.csv (what MLflow must hold). A value
    written twice at one step (two dumps at the same timestep) is one point: MLflow keeps
    (key, step, value, timestamp) once."""
    points: dict[str, set] = {}
    with (out / "progress.csv").open() as f:
        for n, row in enumerate(csv.DictReader(f)):
            step = row.get("time/total_timesteps") or f"row {n}"
            for key, value in row.items():
                if value not in ("", None):
                    points.setdefault(key, set()).add((step, value))
    return {key: len(seen) for key, seen in points.items()}


def failure_line(log: str) -> str:
    """The line of a failed client's log that says why: Hydra ends with a hint about
    HYDRA_FULL_ERROR, so the last line that is not that hint."""
    lines = [ln for ln in log.strip().splitlines() if "HYDRA_FULL_ERROR" not in ln]
    return (lines[-1] if lines else "(empty log)")[:200]


def check_run(client: object, out: Path) -> tuple[str, int, int, int, str]:
    """(run id, points expected, points missing, checkpoints stored, short keys) of a run."""
    from rl_harness.tracking.store import OUT_DIR_TAG

    runs = client.search_runs(  # type: ignore[attr-defined]
        [e.experiment_id for e in client.search_experiments()],  # type: ignore[attr-defined]
        f"tags.`{OUT_DIR_TAG}` = '{out}'",
    )
    if len(runs) != 1 or runs[0].info.status != "FINISHED":
        found = ", ".join(f"{r.info.run_id[:8]} {r.info.status}" for r in runs) or "none"
        return "?", 0, -1, 0, f"{len(runs)} runs with this output dir: {found}"
    if error := runs[0].data.tags.get("error"):  # another client judged it dead while it ran
        return "?", 0, -1, 0, f"marked: {error}"[:200]
    run_id = runs[0].info.run_id
    expected, missing, short = 0, 0, []
    for key, count in expected_points(out).items():
        history = client.get_metric_history(run_id, key)  # type: ignore[attr-defined]
        expected += count
        missing += max(0, count - len(history))
        if len(history) < count:
            short.append(key)
    stored = client.list_artifacts(run_id, "checkpoints")  # type: ignore[attr-defined]
    return run_id, expected, missing, len(stored), " ".join(short)


def load(uri: str, clients: int, steps: int, tmp: Path) -> tuple[list[list[str]], float, float]:
    """Run the clients at once; (table rows, wall s, CPU s of all clients)."""
    from rl_harness.tracking import runs as tracking

    experiment = f"load-{int(time.time())}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    procs = []
    for i in range(clients):
        out = tmp / f"client-{i}"
        log = (tmp / f"client-{i}.log").open("w")
        cmd = client_command(i, steps, experiment, out)
        procs.append((out, subprocess.Popen(cmd, env=env, cwd=tmp, stdout=log, stderr=log)))
    codes = [p.wait() for _, p in procs]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    client = tracking.client_for(uri)
    rows = []
    for i, ((out, _), code) in enumerate(zip(procs, codes, strict=True)):
        run_id, expected, missing, stored, short = check_run(client, out)
        if code != 0:
            log = (tmp / f"client-{i}.log").read_text()
            short = failure_line(log)
            print(f"--- client {i} log:\n{log[-3000:]}", file=sys.stderr)
        row = [str(i), str(code), run_id[:8], str(expected), str(missing), str(stored), short]
        rows.append(row)
    return rows, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--timesteps", type=int, default=4096)
    ap.add_argument("--uri", help="a running tracking server (default: start a local cluster)")
    args = ap.parse_args()
    header = records.header(
        f"python -m experiments.benchmarks.tracking_load --clients {args.clients} "
        f"--timesteps {args.timesteps}"
    )
    with tempfile.TemporaryDirectory(prefix="rl-harness-load-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # as root, PostgreSQL (user postgres) must reach its data dir
        started = None if args.uri else cluster.up(tmp / "cluster")
        uri = args.uri or started.tracking_uri  # type: ignore[union-attr]
        try:
            rows, wall, cpu = load(uri, args.clients, args.timesteps, tmp)
            server_log = tmp / "cluster" / "mlflow.log"
            errors = 0
            if server_log.exists():
                text = server_log.read_text(errors="replace")
                errors = sum(1 for line in text.splitlines() if " ERROR " in line)
        finally:
            if started is not None:
                cluster.down(tmp / "cluster")
    print(f"\n{records.provenance_line(header)}\n")
    headers = ["client", "exit", "run", "metric points", "missing", "checkpoints stored", "note"]
    print(tables.markdown(headers, rows, align="rrlrrrl"))
    total = sum(int(r[3]) for r in rows)
    missing = sum(int(r[4]) for r in rows if int(r[4]) >= 0)
    failed = sum(1 for r in rows if r[1] != "0" or r[2] == "?")
    print(
        f"\n{args.clients} clients at once against {uri if args.uri else 'a local cluster'}: "
        f"{total} metric points expected, {missing} missing, {failed} runs failed, "
        f"{errors} ERROR lines in the server log; wall {wall:.0f} s, CPU {cpu:.0f} s "
        f"(all clients)."
    )
    sys.exit(1 if missing or failed or errors else 0)


if __name__ == "__main__":
    main()
