"""Torch threads per seed against seeds at once, for a config whose gradient steps dominate (SAC
on LunarLanderContinuous: 400x300 nets, a batch of 256 per env step): one seed on one thread
(the baseline), one seed on every core, and one seed per core on one thread each. It backs
bench_zoo_gate's split (cores // --jobs threads a seed): --jobs 1 finishes one seed soonest,
--jobs = cores trains the most steps an hour.

    python -m experiments.benchmarks.seed_threads          # SAC, LunarLanderContinuous: ~8 min
    python -m experiments.benchmarks.seed_threads --pair tqc/lunarlander_continuous --steps 1500

Each seed is one `train.run` in a spawned process of its own (tracking, evaluation during
training and checkpoints off, one closing episode; an off-policy algorithm learns from step 200
on, so the timed steps are training steps); the seeds of a variant start together behind a
barrier. A variant's time is that of a run at --steps less one at 300 steps: the steps between;
medians over --rounds rounds, the order of the variants rotated every round.
Writes the record experiments/results/seed_threads.json (every round of every variant; --out
names another) and its page, seed_threads.md, rendered from it (`render`).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from experiments.lib import records
from experiments.lib.common import RESULTS, compose_cfg, rotated
from rl_harness.common import processes, tables

QUIET = ["mlflow.enabled=false", "eval.freq=0", "checkpoint.freq=0", "progress_bar=false",
         "eval.final.episodes=1", "eval.final.precision=0"]  # fmt: skip
SHORT = 300  # timesteps of the run whose time is taken off (past learning_starts=200)
_barrier: Any = None
RECORD = RESULTS / "seed_threads.json"


def _start(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _seed(overrides: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one seed's `train.run`, timed from the barrier on."""
    from rl_harness.training import train

    cfg = compose_cfg(overrides)
    _barrier.wait()
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        start, cpu = time.perf_counter(), time.process_time()
        train.run(cfg)
        return time.perf_counter() - start, time.process_time() - cpu


def measure(base: list[str], seeds: int, threads: int) -> tuple[float, float]:
    """Wall seconds until the last of `seeds` seeds at once finished, and their CPU seconds."""
    spawn = multiprocessing.get_context("spawn")  # no forked torch state
    barrier = spawn.Barrier(seeds)
    with ProcessPoolExecutor(
        seeds, mp_context=spawn, initializer=_start, initargs=(barrier,)
    ) as pool:
        runs = [pool.submit(_seed, [*base, f"seed={k}", f"torch_threads={threads}"])
                for k in range(seeds)]  # fmt: skip
        walls, cpus = zip(*(r.result() for r in runs), strict=True)
    return max(walls), sum(cpus)


def marginal(base: list[str], steps: int, seeds: int, threads: int) -> tuple[float, float]:
    """Wall and CPU seconds of `steps` - SHORT steps: a run of `steps` less one of SHORT, so
    that what every run pays once (build, closing evaluation, save) drops out."""
    wall, cpu = measure([*base, f"n_timesteps={steps}"], seeds, threads)
    fixed_wall, fixed_cpu = measure([*base, f"n_timesteps={SHORT}"], seeds, threads)
    return wall - fixed_wall, cpu - fixed_cpu


def rounds(
    base: list[str], steps: int, variants: dict[str, tuple[int, int]], n: int
) -> dict[str, list[tuple[float, float]]]:
    """Each variant's marginal (wall, CPU) once a round, the order rotated every round."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for r, name in rotated(list(variants), n):
        times[name].append(marginal(base, steps, *variants[name]))
        wall, cpu = times[name][-1]
        print(f"  round {r + 1}: {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr)
    return times


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", default="sac/lunarlander_continuous", help="algo/env")
    ap.add_argument("--steps", type=int, default=2000, help="timesteps of each seed")
    ap.add_argument("--rounds", type=int, default=3, help="medians over this many")
    ap.add_argument("--out", type=Path, default=RECORD, help="the record")
    args = ap.parse_args(argv)
    if args.steps <= SHORT:
        ap.error(f"--steps {args.steps}: give more than {SHORT} (the run that is taken off)")
    if args.rounds < 1:
        ap.error(f"--rounds {args.rounds}: give 1 or more")
    algo, _, env = args.pair.partition("/")
    base = [f"algo={algo}", f"env={env}", *QUIET]
    shipped = compose_cfg(base)  # a bad pair fails here, before any process starts
    if "learning_starts" in shipped.algo:
        base.append("algo.learning_starts=200")
    cores = processes.cores()
    variants = {"1 seed, 1 thread": (1, 1), f"1 seed, {cores} threads": (1, cores),
                f"{cores} seeds at once, 1 thread each": (cores, 1)}  # fmt: skip
    command = "python -m experiments.benchmarks.seed_threads " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    head = records.header(command.strip())
    times = rounds(base, args.steps, variants, args.rounds)
    record = {
        **head,
        "pair": args.pair,
        "steps": args.steps,
        "rounds": args.rounds,
        "short": SHORT,
        "shipped_timesteps": int(shipped.n_timesteps),
        "variants": [
            {
                "name": name,
                "seeds": variants[name][0],
                "threads": variants[name][1],
                "wall_s": [w for w, _ in t],
                "cpu_s": [c for _, c in t],
            }
            for name, t in times.items()
        ],  # fmt: skip
    }
    text = records.write(record, args.out)
    print(text)
    return text


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone."""
    lines, baseline = [], None
    steps, short, budget = data["steps"], data["short"], data["shipped_timesteps"]
    for v in data["variants"]:
        seeds = v["seeds"]
        rates = sorted(seeds * (steps - short) / wall for wall in v["wall_s"])
        rate = statistics.median(rates)
        baseline = baseline or rate
        lines.append([v["name"], f"{statistics.median(v['wall_s']):.1f}",
                      f"{statistics.median(v['cpu_s']):.1f}",
                      f"{rate:.1f} ({rates[0]:.1f}–{rates[-1]:.1f})", f"{rate / baseline:.2f}",
                      f"{budget / (rate / seeds) / 60:.0f}"])  # fmt: skip
    return "\n".join([
        f"#### Threads per seed against seeds at once: {data['pair']}", "",
        records.provenance_line(data), "",
        tables.markdown(["variant", "wall s", "CPU s", "steps/s, all seeds (range)",
                         "ratio to 1 seed on 1 thread", "min / seed at its budget"], lines),
        "", f"Medians over {data['rounds']} rounds (each variant once a round, the order "
        f"rotated). A variant's time: a run of {steps:,} timesteps a seed less one of {short} "
        f"(build, closing evaluation and save drop out). The budget is the shipped config's "
        f"({budget:,}); the minutes are what the median rate makes of it.",
    ]) + "\n"  # fmt: skip


if __name__ == "__main__":
    main()
