"""RL Zoo reproduction gate: our shipped configs, trained at RL Zoo's budget on several seeds,
against the score RL Zoo publishes for the pair. A seed succeeds when its final evaluation
reaches RL Zoo's mean minus half its per-episode std; a pair reports "k of n seeds succeed".

    python -m experiments.gates.zoo_gate                     # every pair: 5 seeds, 3 if > 30 min
    python -m experiments.gates.zoo_gate --rows ars/cartpole ppo/mountaincar_continuous
    python -m experiments.gates.zoo_gate --max-minutes 5         # pairs a seed trains in ≤ 5 min
    python -m experiments.gates.zoo_gate --plan                  # estimated minutes per seed
    python -m experiments.gates.zoo_gate --from-mlflow ID --readme   # table from the store
    python -m experiments.gates.zoo_gate --readme-only   # the docs' gate block from the records
    python -m experiments.gates.zoo_gate --rows A B --id X --jobs 2   # stopped: rerun it to go on
    # two processes, one table: --rows A B --id X --threads 1 & --rows C D --id X --threads 1,
    #   then --from-mlflow X
    # another machine, the seeds X left:  --rows A --seeds 8001 8002 --id Y  (README joins them)

RL Zoo's figures (DLR-RM/rl-baselines3-zoo `benchmark.md`, commit 22e3ff2) come from one
trained agent per pair, evaluated deterministically over ~150k steps; its LunarLander rows were
trained on -v2, ours is -v3 (same task; v3 fixed the wind and reset bugs). Each seed here is
scored by the harness's closing evaluation (`final/mean_reward`: 30 episodes on evaluation seeds
that training never uses). The runs go to the MLflow experiment `bench` with the tags
`bench=zoo-gate`, `bench.id`, `bench.row`, as the benchmark matrix's (bench_matrix.py) do.
Each run writes its record, experiments/results/zoo_gate/<bench id>.json (every seed's closing
evaluation, status, wall time, each config's hash, the commit, versions, machine, command), and
its page (.md) rendered from it. README's table merges those records seed by seed (a pair's
seeds from several runs make one row; a seed trained twice counts as the later-written record's
unless that one failed), since each run's store stays on its machine, which a later sitting may
not get back; the runs from before the gate wrote records are records by
experiments.gates.zoo_import. Seeds trained at once share the cores: each gets
cores // --jobs torch threads (--threads).

Beyond the count (experiments/gates/zoo_stats.py, after rliable): each pair's IQM over its seeds
(a 95% bootstrap interval from 5 seeds on), P(seed > RL Zoo) (the chance that a seed's closing
evaluation beats an episode of RL Zoo's agent, modelled as normal with the mean and std RL Zoo
publishes, averaged over the seeds), their mean over pairs with a stratified bootstrap interval,
and a performance profile, experiments/results/zoo_gate_profile.png, which `--readme` and
`--readme-only` draw from the records.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from experiments.gates.zoo_pairs import (
    LONG_MINUTES,
    LONG_SEEDS,
    MODE,
    SEEDS,
    STEPS_PER_S,
    ZOO_SCORES,
    rows,
    seeds_for,
)
from experiments.gates.zoo_results import held, merged_pairs, publish, rates
from experiments.gates.zoo_table import report
from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT, pin_tracking_store
from experiments.lib.matrix import collect, gather, plan, record, run_matrix, stats_from_record
from experiments.lib.table import EXPERIMENT, Cell, Plan, Row, RowStats
from rl_harness.common.processes import threads_each
from rl_harness.tracking import runs as tracking


def selected(keys: list[str] | None) -> list[Row]:
    every = rows()
    if unknown := set(keys or []) - {r.key for r in every}:
        raise SystemExit(f"unknown rows {sorted(unknown)}; choose from the pairs in {__file__}")
    return [r for r in every if not keys or r.key in keys]


def steps_per_s(measured: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Every pair's estimated steps per second here: a timed pair's own; else from seconds per
    step fitted once (non-negative least squares) as an algorithm's cost plus an env's over the
    timed pairs (SAC's gradient steps dominate; PPO's LunarLander physics do); else
    STEPS_PER_S."""
    algos, envs = sorted({a for a, _ in measured}), sorted({e for _, e in measured})
    design = np.zeros((len(measured), len(algos) + len(envs)))
    for i, (algo, env) in enumerate(measured):
        design[i, algos.index(algo)] = design[i, len(algos) + envs.index(env)] = 1
    cost = nnls(design, 1 / np.array(list(measured.values())))[0] if measured else []
    out = {}
    for algo, env in ZOO_SCORES:
        if (algo, env) in measured:
            out[algo, env] = measured[algo, env]
        elif algo in algos and env in envs:
            out[algo, env] = 1 / float(cost[algos.index(algo)] + cost[len(algos) + envs.index(env)])
        else:
            out[algo, env] = STEPS_PER_S[algo]
    return out


def minutes(p: Plan, rate: dict[tuple[str, str], float]) -> float:
    """A seed's estimated training time here."""
    return p.budget / rate[p.row.algo, p.row.env] / 60


def settled(cells: list[Cell], bench_id: str) -> list[Cell]:
    """The cells that finished or failed: a seed stopped part-way (KILLED, its checkpoint kept)
    or still training waits for its rerun, and is no failure of the table built meanwhile."""
    for c in cells:
        if c.status in ("KILLED", "RUNNING"):
            print(f"[zoo-gate] {c.row} seed {c.seed}: {c.status}, not in the table until it "
                  f"finishes (rerun with --id {bench_id})")  # fmt: skip
    return [c for c in cells if c.status not in ("KILLED", "RUNNING")]


def main(argv: list[str] | None = None) -> list[RowStats]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", help="only these pairs, e.g. ars/cartpole")
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help=f"default: report seeds, {len(SEEDS)} a pair, {LONG_SEEDS} where a seed is "
        f"estimated to train over {LONG_MINUTES:.0f} min here",
    )
    ap.add_argument("--max-minutes", type=float, help="only pairs whose seed fits (estimated)")
    ap.add_argument(
        "--plan",
        action="store_true",
        help="print the pairs and their estimated minutes per seed, train nothing",
    )
    ap.add_argument("--id", help="the bench id to record under (rerun with it to continue)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained at once, one process each")
    ap.add_argument("--threads", type=int, help="torch threads a seed (default: cores // jobs)")
    ap.add_argument("--from-mlflow", metavar="BENCH_ID", help="rebuild the table, train nothing")
    ap.add_argument("--readme", action="store_true", help="then refresh the docs' gate block")
    ap.add_argument("--readme-only", action="store_true", help="only refresh it, from the records")
    ap.add_argument("--out", type=Path, help="default: experiments/results/zoo_gate/<id>.md")
    ap.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "bench")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: give 1 or more seeds at once")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads {args.threads}: give 1 or more")
    if args.readme_only:
        publish()
        return []
    plans = [plan(r, False, args.seeds, None) for r in selected(args.rows)]
    for p in plans:  # the cores, shared by the seeds at once (benchmarks/seed_threads.py)
        p.overrides.append(f"torch_threads={args.threads or threads_each(args.jobs)}")
    rate = steps_per_s(rates())
    if args.seeds is None:
        for p in plans:
            p.seeds = seeds_for(minutes(p, rate))
    if args.max_minutes is not None:
        plans = [p for p in plans if minutes(p, rate) <= args.max_minutes]
    if args.plan:
        pairs = merged_pairs(RESULTS)
        for p in plans:
            have = held(p, pairs)
            note = f"  (result files hold seeds {', '.join(map(str, have))})" if have else ""
            print(
                f"{p.row.key:32} {p.budget:>10,} steps  ~{minutes(p, rate):6.1f} min / seed"
                f"  seeds {', '.join(map(str, p.seeds))}{note}"
            )
        return []
    pin_tracking_store()
    tracking.get_or_create_experiment(tracking.client(), EXPERIMENT)
    bench_id = args.from_mlflow or args.id or f"{MODE}-{datetime.now():%Y%m%d-%H%M%S}"
    if not args.from_mlflow:
        start = time.perf_counter()
        run_matrix(plans, MODE, bench_id, args.outputs / bench_id, args.jobs)
        print(f"[zoo-gate] {len(plans)} pairs in {(time.perf_counter() - start) / 60:.1f} min")
    stats = gather(plans, settled(collect(bench_id), bench_id), rebuilt=bool(args.from_mlflow))
    for s in stats:
        ref = s.plan.row.reference
        assert ref is not None and ref.value is not None
        s.reference, s.threshold = ref.value, ref.threshold()
    command = "python -m experiments.gates.zoo_gate " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    out = args.out or RESULTS / "zoo_gate" / f"{bench_id}.md"
    text = records.write(record(stats, bench_id, command.strip()), out)
    print(text)
    if args.readme:
        publish()
    return stats


def record_path(data: dict[str, Any]) -> Path:
    """Where a run's record goes when no --out names another."""
    return RESULTS / "zoo_gate" / f"{data['bench_id']}.json"


def render(data: dict[str, Any]) -> str:
    """One run's page, from its record alone."""
    return report(stats_from_record(data), data)


if __name__ == "__main__":
    main()
