"""Benchmark matrix: each (algo, env) pair with its shipped hyperparameters over several seeds,
trained through the harness itself (`train.run` on the composed config), into one MLflow
experiment; the markdown table is then built from what the MLflow store holds.

    python -m experiments.bench_matrix --quick            # `make bench`: 2 seeds, reduced budgets
    python -m experiments.bench_matrix                    # `make bench-full`: shipped budgets
    python -m experiments.bench_matrix --readme           # also refresh README's bench block
    python -m experiments.bench_matrix --from-mlflow ID   # rebuild a table from the store alone
    python -m experiments.bench_matrix --jobs 2           # two cells at once (one per core)
    python -m experiments.bench_matrix --id ID            # continue a stopped bench (Ctrl-C, kill):
    #   finished cells are kept, stopped ones run first, each from its checkpoint in its run
    python -m experiments.bench_matrix --quick --rows ppo/cartpole --max-steps 2048   # smoke

Per row: final evaluation return (the harness's closing evaluation, `final/mean_reward`) as mean
± std (ddof=1) and IQM (`scipy.stats.trim_mean(x, 0.25)`, which trims nothing below 4 seeds)
across seeds; timesteps; wall time of `train.run` per seed (build, training, periodic and final
evaluation, saving, MLflow logging; a seed stopped and continued: the sum of its pieces);
steps/s = timesteps / wall time; % of the exact optimum where the env has one; the reference
figure and whether we reached it. A row reaches its
reference when the mean across seeds is at least the reference's threshold, with a budget no
larger than the reference's; a row whose budget was cut for quick mode claims nothing.
All runs carry the tags `bench` (quick|full), `bench.id` and `bench.row`: in the MLflow UI,
experiment `bench`, filter `tags."bench.id" = '<id>'` shows the same runs and numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import signal
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from experiments.bench_common import (
    RESULTS,
    ROOT,
    compose_cfg,
    hparams_file,
    pin_tracking_store,
    stop_on_signals,
)
from experiments.bench_table import (
    EXPERIMENT,
    Cell,
    Plan,
    Reference,
    Row,
    RowStats,
    report,
    resolve_references,
    update_readme,
)
from rl_harness.common import seeds as seed_blocks
from rl_harness.config.runtime import to_plain
from rl_harness.errors import stopped
from rl_harness.tracking import runs as tracking
from rl_harness.training import train

if TYPE_CHECKING:
    from mlflow import MlflowClient


def _best_s_s(cfg: DictConfig) -> float:
    from rl_harness.envs.inventory_heuristics import best_s_S

    return best_s_S(**to_plain(cfg.env.kwargs)).value


def _tabular_optimum(cfg: DictConfig) -> float:
    import gymnasium as gym

    from rl_harness.agents.tabular_optimum import optimum_summary

    env = gym.make(cfg.env.id, **(to_plain(cfg.env.kwargs) or {}))
    return optimum_summary(env, env.spec.max_episode_steps)["finite_horizon"]


# rl-baselines3-zoo benchmark.md (commit 0088472): one trained agent per pair, deterministic
# evaluation over ~150k steps (300 CartPole / 750 Pendulum episodes); mean ± std over episodes.
ZOO = "RL Zoo"
CARTPOLE_SOLVED = 25.0  # 500 - 25 = 475, Gymnasium's reward_threshold for CartPole-v1
SS = Reference("best (s,S) policy", compute=_best_s_s)  # envs/inventory_heuristics.py, exact


MATRIX: list[Row] = [
    Row(
        "ppo",
        "cartpole",
        Reference(f"{ZOO}: 500 ± 0", 500.0, 100_000, CARTPOLE_SOLVED),
        quick_budget=30_000,
    ),
    Row(
        "a2c",
        "cartpole",
        Reference(f"{ZOO}: 500 ± 0", 500.0, 500_000, CARTPOLE_SOLVED),
        quick_budget=60_000,
    ),
    Row(
        "dqn",
        "cartpole",
        Reference(f"{ZOO}: 500 ± 0", 500.0, 50_000, CARTPOLE_SOLVED),
        quick_budget=15_000,
    ),
    # Pendulum: reached within half the zoo's per-episode std of its mean.
    Row(
        "sac",
        "pendulum",
        Reference(f"{ZOO}: -157.0 ± 88.7", -156.995, 20_000, 88.714 / 2),
        quick_budget=2_000,
        overrides=("eval.episodes=20",),
    ),
    Row(
        "td3",
        "pendulum",
        Reference(f"{ZOO}: -151.9 ± 90.2", -151.855, 20_000, 90.227 / 2),
        quick_budget=11_000,
        overrides=("eval.episodes=20",),
    ),
    Row("ppo", "custom", SS, quick_budget=12_000),
    Row("dqn", "custom", SS, quick_budget=12_000),
    Row("qlearning", "custom", SS),
    Row("sac", "custom_continuous", SS, quick_budget=1_000, full_seeds=3),
    Row("tqc", "custom_continuous", SS, full_budget=20_000, full_seeds=3, in_quick=False),
    # Tabular: the finite-horizon optimum (rl_harness/tabular_optimum.py), tolerances as in
    # experiments/qlearning_vs_optimum.py; 1000 evaluation episodes keep sampling noise small.
    Row(
        "qlearning",
        "frozenlake",
        Reference("optimum within 100 steps", margin=0.03, compute=_tabular_optimum),
        overrides=("eval.episodes=1000",),
    ),
    Row(
        "qlearning",
        "taxi",
        Reference("optimum", margin=0.5, compute=_tabular_optimum),
        overrides=("eval.episodes=1000",),
    ),
]
QUICK_SEEDS = 2


def plan(row: Row, quick: bool, seeds: list[int] | None, max_steps: int | None) -> Plan:
    base = [f"algo={row.algo}", f"env={row.env}", *row.overrides]
    shipped = compose_cfg(base).n_timesteps
    if row.full_budget is not None:
        shipped = row.full_budget  # no tuned budget ships for this pair: ours is the "shipped"
    budget = min(shipped, row.quick_budget or shipped) if quick else shipped
    if max_steps is not None:
        budget = min(budget, max_steps)
    if seeds is None:
        seeds = seed_blocks.take(seed_blocks.REPORT, QUICK_SEEDS if quick else row.full_seeds)
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
    client = _client()
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
    client = _client()
    piece = {"bench/piece_wall_s": time.perf_counter() - start,
             "bench/piece_cpu_s": time.process_time() - cpu}  # fmt: skip
    for key, value in piece.items():
        client.log_metric(run_id, key, value, step=step)
    return tuple(  # type: ignore[return-value]
        sum(m.value for m in client.get_metric_history(run_id, key)) for key in piece
    )


def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking.tracking_uri())


def collect(bench_id: str) -> list[Cell]:
    """The cells of one bench invocation, read back from the MLflow store."""
    client = _client()
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


def selected(rows: list[str] | None, quick: bool) -> list[Row]:
    chosen = [r for r in MATRIX if (r.in_quick or not quick) and (not rows or r.key in rows)]
    unknown = set(rows or []) - {r.key for r in MATRIX}
    if unknown:
        raise SystemExit(
            f"unknown rows {sorted(unknown)}; choose from {', '.join(r.key for r in MATRIX)}"
        )
    return chosen


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
            child.terminate()  # SIGTERM: the worker's handler raises Stopped in its cell
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, reduced budgets (make bench)")
    ap.add_argument("--rows", nargs="+", help="only these rows, e.g. ppo/cartpole")
    ap.add_argument("--seeds", type=int, nargs="+", help="override the seeds of every row")
    ap.add_argument(
        "--jobs", type=int, default=1, help="cells trained at once, one process each (≤ cores)"
    )
    ap.add_argument("--max-steps", type=int, help="cap every budget (smoke tests)")
    ap.add_argument("--from-mlflow", metavar="BENCH_ID", help="rebuild the table, train nothing")
    ap.add_argument("--id", help="the bench id to record under (rerun with it to continue)")
    ap.add_argument("--readme", action="store_true", help="refresh README's bench block")
    ap.add_argument("--out", type=Path, help="table file (default experiments/results/...)")
    ap.add_argument("--title", default="Matrix", help="the table's heading")
    ap.add_argument(
        "--outputs",
        type=Path,
        default=ROOT / "outputs" / "bench",
        help="run directories go under OUTPUTS/<bench id>/",
    )
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: give 1 or more cells at once")
    quick = args.quick or (args.from_mlflow or "").startswith("quick")
    mode = "quick" if quick else "full"
    if quick and args.readme:
        ap.error("--readme publishes full results only: quick ones stay out of README")
    plans = [plan(r, quick, args.seeds, args.max_steps) for r in selected(args.rows, quick)]
    pin_tracking_store()  # cells run in their own directories
    tracking.get_or_create_experiment(_client(), EXPERIMENT)  # artifacts under this cwd
    total = None
    bench_id = args.from_mlflow or args.id or f"{mode}-{datetime.now():%Y%m%d-%H%M%S}"
    if not args.from_mlflow:
        start = time.perf_counter()
        run_matrix(plans, mode, bench_id, args.outputs / bench_id, args.jobs)
        total = time.perf_counter() - start
    stats = gather(plans, collect(bench_id), rebuilt=bool(args.from_mlflow))
    resolve_references(stats)
    command = (  # the seeds and rows select what a rebuild reads too: always named
        "python -m experiments.bench_matrix"
        + (f" --from-mlflow {bench_id}" if args.from_mlflow else " --quick" if quick else "")
        + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds else "")
        + (f" --rows {' '.join(args.rows)}" if args.rows else "")
        + (f" --jobs {args.jobs}" if args.jobs > 1 and not args.from_mlflow else "")
        + (f" --id {args.id}" if args.id and not args.from_mlflow else "")
        + (f" --out {_shown(args.out)}" if args.out else "")
        + (f' --title "{args.title}"' if args.title else "")
    )
    text = report(stats, mode, bench_id, command, total, args.title)
    out = args.out or RESULTS / f"bench_{mode}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    facts = record(stats, bench_id, command)  # before writing: the tree as the run found it
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(facts, indent=1) + "\n")
    print(text)
    print(f"written to {out}")
    if args.readme:
        update_readme(mode)


def record(stats: list, bench_id: str, command: str) -> dict:
    """The table's record, beside its Markdown: every cell (seed, status, closing evaluation,
    timesteps, wall time), each row's config file and its hash, and what produced it — the
    command, the code, the versions, the machine."""
    from rl_harness.common import provenance
    from rl_harness.config.preflight import CONF_DIR

    facts = provenance.facts()
    rows = []
    for s in stats:
        path = CONF_DIR / "hparams" / s.plan.hparams if s.plan.hparams else None
        rows.append(
            {
                "row": s.plan.row.key,
                "hparams": s.plan.hparams,
                "hparams_sha256": hashlib.sha256(path.read_bytes()).hexdigest()
                if path is not None and path.exists()
                else None,
                "budget": s.plan.budget,
                "overrides": s.plan.overrides,
                "seeds": s.plan.seeds,
                "reference": s.reference,
                "threshold": s.threshold,
                "cells": [dataclasses.asdict(c) for c in s.cells],
            }
        )
    return {"command": command, "bench_id": bench_id, "facts": facts, "rows": rows}


def _shown(path: Path) -> str:
    """A path as typed from the repository's root, where it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    main()
