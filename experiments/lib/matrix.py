"""Running a matrix of (algo, env) pairs over seeds through the harness, and reading it back:
what the benchmark matrix (experiments.benchmarks.matrix) and the RL Zoo gate
(experiments.gates.zoo_gate) share.

    plan(row, ...)          a row's budget, seeds and overrides in this mode
    run_matrix(plans, ...)  every (row, seed) cell with no finished run under a bench id, each a
                            `train.run` in this process or a spawned one; a stopped bench continues
    collect(bench_id)       the cells, read back from the MLflow store (through rl_harness.tracking)
    gather(plans, cells)    cells by row (RowStats)
    record(...) / stats_from_record(record)   the table's JSON record, and the rows back from it

Every run carries the tags `bench` (the mode), `bench.id` and `bench.row`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing
import signal
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from experiments.lib import records
from experiments.lib.common import compose_cfg, hparams_file, stop_on_signals
from experiments.lib.table import EXPERIMENT, Cell, Plan, Reference, Row, RowStats
from rl_harness.common import seeds as seed_blocks
from rl_harness.config.preflight import CONF_DIR
from rl_harness.errors import stopped
from rl_harness.tracking import runs as tracking
from rl_harness.training import train

QUICK_SEEDS = 2


def plan(
    row: Row,
    quick: bool,
    seeds: list[int] | None,
    max_steps: int | None,
    block: range = seed_blocks.REPORT,
    times: int = 1,
) -> Plan:
    """A row's plan; without `seeds`, the first seeds of `block` (the report seeds); `times`
    the shipped budget in full mode (does a target hold at twice the budget?)."""
    base = [f"algo={row.algo}", f"env={row.env}", *row.overrides]
    shipped = compose_cfg(base).n_timesteps
    if row.full_budget is not None:
        shipped = row.full_budget  # no tuned budget ships for this pair: ours is the "shipped"
    budget = min(shipped, row.quick_budget or shipped) if quick else shipped * times
    if max_steps is not None:
        budget = min(budget, max_steps)
    if seeds is None:
        seeds = seed_blocks.take(block, QUICK_SEEDS if quick else row.full_seeds)
    return Plan(
        row,
        seeds,
        budget,
        shipped,
        hparams_file(row.algo, row.env),
        [*base, f"n_timesteps={budget}", "progress_bar=false", f"mlflow.experiment={EXPERIMENT}"],
    )


def run_cell(p: Plan, seed: int, tags: dict[str, str], out_root: Path) -> None:
    """Train one seed through the harness in this process; its MLflow run records the result
    (a run that fails is marked FAILED by the harness, with the error). A cell stopped before
    (its run KILLED, a checkpoint in its directory) continues from that checkpoint in the same
    run, so an hours-long seed survives a stop; its wall and CPU time add up over the pieces."""
    from rl_harness.training import resume

    cfg = compose_cfg([*p.overrides, f"seed={seed}"])
    out_dir = out_root / f"{p.row.algo}_{p.row.env}_s{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    point = resume.find_auto(out_dir, EXPERIMENT) if cfg.mlflow.enabled else None
    if point is not None:
        print(f"[bench] {p.row.key} seed {seed}: continues from {point.checkpoint.name}")
    overrides = " ".join([*p.overrides, f"seed={seed}"])
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with contextlib.chdir(out_dir):  # train.run writes to the working directory
            result = train.run(
                cfg,
                run_tags={**tags, "bench.row": p.row.key, "bench.overrides": overrides},
                point=point,
                out_dir=out_dir,
            )
    except KeyboardInterrupt as interrupt:
        stop = stopped(interrupt)
        if stop.run_id is not None:
            with contextlib.suppress(Exception):
                _log_piece(stop.run_id, stop.step or 0, start, cpu)
        raise
    wall, cpu = _log_piece(result["run_id"], result["timesteps"], start, cpu)
    steps = result["timesteps"]
    client = tracking.client()
    for key, value in {
        "bench/wall_s": wall,
        "bench/cpu_s": cpu,
        "bench/timesteps": steps,
        "bench/steps_per_s": steps / wall,
    }.items():
        client.log_metric(result["run_id"], key, float(value), step=steps)


def _log_piece(run_id: str, step: int, start: float, cpu: float) -> tuple[float, float]:
    """Record this piece of a cell's training (a stopped run continues later); returns the
    wall and CPU seconds of all its pieces so far."""
    client = tracking.client()
    piece = {"bench/piece_wall_s": time.perf_counter() - start,
             "bench/piece_cpu_s": time.process_time() - cpu}  # fmt: skip
    for key, value in piece.items():
        client.log_metric(run_id, key, value, step=step)
    return tuple(  # type: ignore[return-value]
        sum(m.value for m in client.get_metric_history(run_id, key)) for key in piece
    )


def collect(bench_id: str) -> list[Cell]:
    """The cells of one bench invocation, read back from the MLflow store."""
    client = tracking.client()
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id], f"tags.`bench.id` = '{bench_id}'", max_results=5000
    )
    cells = []
    # A cell run again under the same id (its first run stopped or failed): its finished run
    # counts, else its latest.
    runs.sort(key=lambda r: (r.info.status == "FINISHED", r.info.start_time or 0))
    for r in runs:
        m, tags = r.data.metrics, r.data.tags
        steps = m.get("bench/timesteps")
        cells.append(
            Cell(
                tags.get("bench.row", "?"),
                int(r.data.params.get("seed", -1)),
                r.info.status,
                m.get("final/mean_reward"),
                int(steps) if steps is not None else None,
                m.get("bench/wall_s"),
                m.get("optimum"),
                tags.get("error"),
                int(r.data.params.get("n_timesteps", 0)) or None,
            )
        )
    last = {(c.row, c.seed): c for c in cells}
    return sorted(last.values(), key=lambda c: (c.row, c.seed))


def _warm_up() -> None:
    """An untimed tiny run: lazy imports and first-call costs stay out of the first cell."""
    warm = compose_cfg(["n_timesteps=256", "mlflow.enabled=false", "progress_bar=false"])
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        train.run(warm)


def _start_worker() -> None:
    stop_on_signals()
    _warm_up()


_stopping = False  # a worker that was stopped starts no further cell


def _run_or_report(cell: tuple[Plan, int], tags: dict[str, str], out_root: Path) -> None:
    global _stopping
    if _stopping:
        return
    p, seed = cell
    print(f"[bench] {p.row.key} seed {seed}: {p.budget:,} steps", flush=True)
    try:
        run_cell(p, seed, tags, out_root)
    except KeyboardInterrupt:
        _stopping = True
        raise
    except Exception as e:  # noqa: BLE001 - one failed cell must not end the bench
        traceback.print_exc()
        print(f"[bench] {p.row.key} seed {seed} FAILED: {e}", flush=True)


def pending(plans: list[Plan], recorded: list[Cell]) -> list[tuple[Plan, int]]:
    """The (plan, seed) cells with no finished run: those stopped part-way first (a sitting that
    ends mid-bench leaves checkpoints, and the next one finishes them), then the other seeds of
    rows already begun, then rows not started, so a stop leaves as many whole rows as it can."""
    done = {(c.row, c.seed) for c in recorded if c.status == "FINISHED"}
    stopped = {(c.row, c.seed) for c in recorded if c.status == "KILLED"}
    begun = {c.row for c in recorded}
    cells = [(p, seed) for p in plans for seed in p.seeds if (p.row.key, seed) not in done]
    return sorted(cells, key=lambda c: ((c[0].row.key, c[1]) not in stopped,
                                        c[0].row.key not in begun))  # fmt: skip


def run_matrix(plans: list[Plan], mode: str, bench_id: str, out_root: Path, jobs: int = 1) -> None:
    """Every (row, seed) cell with no finished run under `bench_id` (a rerun with the same id
    continues a stopped bench); with jobs > 1, that many at once, each in its own process (a
    cell's wall time then includes what the others take from shared caches and memory)."""
    run = functools.partial(
        _run_or_report, tags={"bench": mode, "bench.id": bench_id}, out_root=out_root
    )
    cells = pending(plans, collect(bench_id))
    if skipped := sum(len(p.seeds) for p in plans) - len(cells):
        print(f"[bench] {skipped} cells finished before under {bench_id}: kept", flush=True)
    if not cells:
        return
    previous = stop_on_signals()
    try:
        if jobs == 1:
            _warm_up()
            for cell in cells:
                run(cell)
            return
        spawn = multiprocessing.get_context("spawn")  # no forked torch or MLflow state
        pool = ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_start_worker)
        try:
            list(pool.map(run, cells))
        except KeyboardInterrupt:
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(cancel_futures=True)
    except KeyboardInterrupt:
        print(f"[bench] stopped: rerun with --id {bench_id} to continue", flush=True)
        raise SystemExit(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_workers(pool: ProcessPoolExecutor, timeout_s: float = 300) -> None:
    """`kill` of this process alone stops the cells its workers train as Ctrl-C stops them all:
    each writes a checkpoint and ends its run KILLED; the cells not started are dropped."""
    pool.shutdown(wait=False, cancel_futures=True)
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            child.terminate()  # SIGTERM: its cell stops at the next rollout start, checkpointed
    for child in multiprocessing.active_children():
        child.join(timeout_s)


def gather(plans: list[Plan], cells: list[Cell], rebuilt: bool = False) -> list[RowStats]:
    """Cells by row; a planned seed without a run (e.g. a config error) counts as failed.
    Rebuilding from the store, the seeds are those the store holds."""
    stats = []
    for p in plans:
        mine = [c for c in cells if c.row == p.row.key]
        if rebuilt:
            if not mine:
                continue
            p.seeds = sorted({c.seed for c in mine})
            p.budget = max(c.budget or 0 for c in mine) or p.budget
        seen = {c.seed for c in mine}
        mine += [Cell(p.row.key, k, "NO RUN") for k in p.seeds if k not in seen]
        stats.append(RowStats(p, mine))
    return stats


def record(stats: list[RowStats], bench_id: str, command: str, **extra: Any) -> dict[str, Any]:
    """The table's record: its header (records.header), then every row — its definition (the
    reference, the budgets), its config file and that file's hash, its seeds and every cell
    (seed, status, closing evaluation, timesteps, wall time). Read the code's state before the
    script writes its outputs."""
    rows = []
    for s in stats:
        path = CONF_DIR / "hparams" / s.plan.hparams if s.plan.hparams else None
        ref = s.plan.row.reference
        rows.append(
            {
                "row": s.plan.row.key,
                "hparams": s.plan.hparams,
                "hparams_sha256": records.config_hash(path)
                if path is not None and path.exists()
                else None,
                "budget": s.plan.budget,
                "shipped": s.plan.shipped,
                "overrides": s.plan.overrides,
                "seeds": s.plan.seeds,
                "reference_def": None
                if ref is None
                else {
                    "source": ref.source,
                    "value": ref.value,
                    "budget": ref.budget,
                    "margin": ref.margin,
                    "computed": ref.compute is not None,
                },
                "reference": s.reference,
                "threshold": s.threshold,
                "cells": [dataclasses.asdict(c) for c in s.cells],
            }
        )
    return {**records.header(command), "bench_id": bench_id, **extra, "rows": rows}


def stats_from_record(record: dict[str, Any]) -> list[RowStats]:
    """The rows of a record, as the table renders them."""
    out = []
    for r in record["rows"]:
        algo, env = r["row"].split("/")
        d = r["reference_def"]
        ref = None
        if d is not None:
            figure = r["reference"]
            compute = (lambda cfg, f=figure: f) if d["computed"] else None
            ref = Reference(d["source"], d["value"], d["budget"], d["margin"], compute)
        row = Row(algo, env, ref, full_seeds=len(r["seeds"]))
        p = Plan(row, r["seeds"], r["budget"], r["shipped"], r["hparams"], r["overrides"])
        cells = [Cell(**c) for c in r["cells"]]
        out.append(RowStats(p, cells, r["reference"], r["threshold"]))
    return out
