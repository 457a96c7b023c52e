"""Serving latency and throughput of a registered policy over loopback REST.

Trains a small PPO CartPole agent (with VecNormalize) in a temporary MLflow store, registers
it, starts `mlflow models serve --env-manager local` on 127.0.0.1 and measures, with keep-alive
HTTP/1.1 connections from this process:
  - one observation per request, sequential: p50 / p99 latency, requests/s;
  - a batch of 1000 observations per request, sequential: p50 / p99, requests/s, obs/s;
  - one observation per request from --clients concurrent connections: requests/s, p99.
Targets: p99 ≤ 10 ms for one observation, ≤ 50 ms for a batch of 1000. Also reported: the time
training spent logging the policy as an MLflow model (the run's `time/policy_model_log_s`;
target < 10 s), a figure no test asserts because a loaded machine stretches it.

    python -m experiments.benchmarks.serving                       # 2000 single, 200 batch requests
    python -m experiments.benchmarks.serving --single 5000 --workers 2 --clients 8
    python -m experiments.benchmarks.serving --model-uri models:/cartpole-ppo@champion  # yours

Writes the record experiments/results/serving_full.json (every request's latency; --out names
another) and its page, rendered from it (`render`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT

TARGETS = {"single": 10.0, "batch": 50.0}  # p99 ms
MODEL_LOG_TARGET = 10.0  # s training spends logging the policy model
STARTUP_TIMEOUT = 120  # s until the scoring server answers /ping
RECORD = RESULTS / "serving_full.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_and_register(tmp: Path) -> tuple[str, float]:
    """The registered model's URI, and the seconds training spent logging it."""
    from rl_harness.config.commands import compose
    from rl_harness.deploy import serving
    from rl_harness.tracking import runs as tracking
    from rl_harness.training import train

    cfg = compose(
        "config",
        [
            "algo=ppo",
            "env=cartpole",
            "env.normalize=true",
            "n_timesteps=4096",
            "eval.freq=0",
            "checkpoint.freq=0",
            "eval.episodes=2",
            "progress_bar=false",
        ],
    )
    result = train.run(cfg)
    serving.register(result["run_id"], "bench-cartpole-ppo", "champion")
    log_s = tracking.get_run(result["run_id"]).data.metrics["time/policy_model_log_s"]
    return "models:/bench-cartpole-ppo@champion", log_s


def post(conn: http.client.HTTPConnection, body: bytes) -> float:
    start = time.perf_counter()
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
    return elapsed


def sequential(port: int, body: bytes, n: int, warmup: int = 20) -> np.ndarray:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(warmup):
        post(conn, body)
    lat = np.array([post(conn, body) for _ in range(n)])
    conn.close()
    return lat


def concurrent(port: int, body: bytes, n: int, clients: int) -> tuple[np.ndarray, float]:
    per = n // clients
    results: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        post(conn, body)
        barrier.wait()
        results[i] = [post(conn, body) for _ in range(per)]
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return np.concatenate([np.array(r) for r in results]), per * clients / wall


def row(name: str, lat: np.ndarray, rps: float, target: float | None, extra: str = "") -> str:
    ms = lat * 1000
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    verdict = "—" if target is None else ("met" if p99 <= target else "MISSED")
    return (
        f"| {name} | {len(ms)} | {p50:.2f} | {p99:.2f} | {ms.max():.1f} | {rps:,.0f}{extra} "
        f"| {'—' if target is None else f'≤ {target:g} ms'} | {verdict} |"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--single", type=int, default=2000, help="single-observation requests")
    ap.add_argument("--batch", type=int, default=200, help="batch-of-1000 requests")
    ap.add_argument("--clients", type=int, default=4, help="concurrent connections")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server")
    ap.add_argument("--model-uri", default=None, help="serve this model instead of training one")
    ap.add_argument("--out", type=Path, help=f"the record (default {records.shown(RECORD)})")
    args = ap.parse_args(argv)
    args.out = (args.out or RECORD).resolve()  # before the chdir below
    head = records.header(" ".join(["python -m experiments.benchmarks.serving", *sys.argv[1:]]))

    from rl_harness.deploy import serving

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        if args.model_uri is None:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        log_s: float | None = None  # not measured for --model-uri: logged elsewhere
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the results table
            if args.model_uri is None:
                uri, log_s = train_and_register(Path(tmp))
            else:
                uri = args.model_uri
        port = free_port()
        env = {
            **serving.serve_env(),  # uvicorn found from an unactivated venv too
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        log = open(Path(tmp) / "server.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            serving.serve_command(uri, port, workers=args.workers),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            started = time.perf_counter()
            while True:
                if proc.poll() is not None:
                    sys.exit(f"server exited:\n{(Path(tmp) / 'server.log').read_text()}")
                if time.perf_counter() - started > STARTUP_TIMEOUT:
                    sys.exit(
                        f"server not ready after {STARTUP_TIMEOUT} s:\n"
                        f"{(Path(tmp) / 'server.log').read_text()}"
                    )
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                try:
                    conn.request("GET", "/ping")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
                finally:
                    conn.close()
            startup = time.perf_counter() - started
            rng = np.random.default_rng(0)
            one = json.dumps({"inputs": rng.uniform(-0.2, 0.2, (1, 4)).tolist()}).encode()
            batch = json.dumps({"inputs": rng.uniform(-0.2, 0.2, (1000, 4)).tolist()}).encode()

            lat1 = sequential(port, one, args.single)
            latb = sequential(port, batch, args.batch, warmup=5)
            latc, rpsc = concurrent(port, one, args.single, args.clients)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()

    record = {
        **head,
        "model": uri,
        "workers": args.workers,
        "clients": args.clients,
        "cpus": os.cpu_count(),
        "startup_s": startup,
        "single_s": lat1.tolist(),
        "batch_s": latb.tolist(),
        "concurrent_s": latc.tolist(),
        "concurrent_rps": rpsc,
        "policy_model_log_s": log_s,
    }
    print(records.write(record, args.out))


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone: percentiles of every request's latency."""
    lat1, latb, latc = (np.array(data[k]) for k in ("single_s", "batch_s", "concurrent_s"))
    rps = len(latb) / latb.sum()
    lines = [
        "### Serving", "", records.provenance_line(data), "",
        f"Serving {data['model']} with `mlflow models serve --env-manager local --workers "
        f"{data['workers']}` on 127.0.0.1 (server ready {data['startup_s']:.1f} s after start); "
        f"{data['cpus']} CPUs", "",
        "| request | n | p50 ms | p99 ms | max ms | requests/s | target (p99) | |",
        "|---|---|---|---|---|---|---|---|",
        row("1 observation, sequential", lat1, len(lat1) / lat1.sum(), TARGETS["single"]),
        row("batch of 1000, sequential", latb, rps, TARGETS["batch"],
            f" ({rps * 1000:,.0f} obs/s)"),
        row(f"1 observation, {data['clients']} concurrent clients", latc,
            data["concurrent_rps"], None),
    ]  # fmt: skip
    if (log_s := data["policy_model_log_s"]) is not None:
        verdict = "met" if log_s < MODEL_LOG_TARGET else "MISSED"
        lines += ["", f"Logging the policy as an MLflow model at the end of training: {log_s:.1f} "
                  f"s (target < {MODEL_LOG_TARGET:g} s: {verdict})."]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
