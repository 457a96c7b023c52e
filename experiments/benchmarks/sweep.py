"""Sweep benchmark: what pruning saves, and what a second worker buys.

Runs `python -m rl_harness -m sweep=ppo env=cartpole` (TPE, fixed sampler seed) as the user
would, each variant in its own sweep directory and MLflow store, and prints one table:
total timesteps trained, best final evaluation, trials pruned, wall time.

  pruning     median pruner (from the first evaluation) or     } same sampler seed: timesteps
              successive halving (first rung at two evaluations, } spent and best value found,
              reduction factor 3), 1 worker                      } for the same number of
  no pruning  no pruner, 1 worker                                } trials
  2 workers   no pruner, 2 worker processes running exactly the trials of "no pruning" (its
              parameter sets are enqueued in the 2-worker study), so the wall-time ratio is the
              speed-up of the same work
  tracking    no pruner, 1 worker, `mlflow.enabled=false`, the same trials as "no pruning":
  off         tracking's cost per sweep trial is the difference in wall and CPU seconds (the
              sweep's processes and all they waited for), divided by the trials
Targets: pruning ≤ 60 % of the timesteps with a best value equal within noise (here: within
BEST_TOLERANCE of the unpruned best); 2 workers ≥ 1.6x faster on 2 cores. The verdicts are printed.

    python -m experiments.benchmarks.sweep            # 30 trials x 50k steps: long on 2 busy cores
    python -m experiments.benchmarks.sweep --timesteps 20000   # 30 trials x 20k: ~15 min, quiet
    python -m experiments.benchmarks.sweep --quick    # 8 trials x 8k steps: a few minutes
    python -m experiments.benchmarks.sweep --trials 4 --variants "no pruning, tracking off"

Writes the record experiments/results/sweep_full.json (every trial's state, value, timesteps and
parameters, per variant; --out names another) and its page, rendered from it (`render`).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT

RECORD = RESULTS / "sweep_full.json"


def sweep_args(trials: int, steps: int, quick: bool) -> list[str]:
    freq = steps // 10
    return [
        "sweep=ppo",
        "env=cartpole",
        f"n_timesteps={steps}",
        f"eval.freq={freq}",
        f"eval.episodes={5 if quick else 10}",
        f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.sampler.seed=1",
        f"hydra.sweeper.sampler.tpe.n_startup_trials={3 if quick else 5}",
        f"hydra.sweeper.pruner.median.n_startup_trials={3 if quick else 5}",
        f"hydra.sweeper.pruner.median.n_warmup_steps={freq}",
        f"hydra.sweeper.pruner.successive_halving.min_resource={2 * freq}",
    ]


VARIANTS = {
    "no pruning": ["hydra.sweeper.pruner.name=none"],
    "pruning (median)": ["hydra.sweeper.pruner.name=median"],
    "pruning (succ. halving)": ["hydra.sweeper.pruner.name=successive_halving"],
    "no pruning, 2 workers": ["hydra.sweeper.pruner.name=none", "hydra.sweeper.n_workers=2"],
    "no pruning, tracking off": ["hydra.sweeper.pruner.name=none", "mlflow.enabled=false"],
}
# runs the same parameter sets as its source
REPLAY = {"no pruning, 2 workers": "no pruning", "no pruning, tracking off": "no pruning"}
PRUNED_TIMESTEPS_TARGET = 0.60
BEST_TOLERANCE = 0.025  # of the unpruned best: CartPole's final eval over 10 episodes
SPEEDUP_TARGET = 1.6


def journal(sweep_dir: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(sweep_dir / "optuna.journal"))
    )


def directory(tmp: Path, name: str) -> Path:
    return tmp / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")


def enqueue_same_trials(source: Path, target: Path) -> None:
    """The source study's parameter sets, waiting in the target study in the same order."""
    done = optuna.load_study(study_name="bench", storage=journal(source))
    target.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name="bench", storage=journal(target), direction="maximize")
    for t in sorted(done.trials, key=lambda t: t.number):
        study.enqueue_trial(t.params)


def run(name: str, args: list[str], tmp: Path) -> dict:
    sweep_dir = directory(tmp, name)
    if name in REPLAY:
        enqueue_same_trials(directory(tmp, REPLAY[name]), sweep_dir)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{sweep_dir}.mlflow.db"}
    cmd = [
        sys.executable,
        "-m",
        "rl_harness",
        "-m",
        *args,
        "hydra.sweeper.study_name=bench",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
    study = optuna.load_study(study_name="bench", storage=journal(sweep_dir))
    trials = study.trials
    complete = sorted((t.value for t in trials if t.state.name == "COMPLETE"), reverse=True)
    return {
        "per_trial": [
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "timesteps": int(t.user_attrs.get("timesteps", 0)),
                "params": t.params,
            }
            for t in trials
        ],  # fmt: skip
        "timesteps": sum(int(t.user_attrs.get("timesteps", 0)) for t in trials),
        "best": complete[0] if complete else float("nan"),
        "top3": sum(complete[:3]) / max(len(complete[:3]), 1),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "failed": sum(t.state.name == "FAIL" for t in trials),
        "trials": len(trials),
        "wall": wall,
        "cpu": cpu,
    }


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (and theirs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 trials x 8k steps")
    ap.add_argument("--trials", type=int)
    ap.add_argument("--timesteps", type=int)
    ap.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        metavar="VARIANT",
        help=f"a subset of: {'; '.join(VARIANTS)} (a rerun brings its source)",
    )
    ap.add_argument("--out", type=Path, help=f"the record (default {records.shown(RECORD)})")
    args = ap.parse_args(argv)
    chosen = set(args.variants or VARIANTS) | {"no pruning"}  # the reference of every ratio
    trials = args.trials or (8 if args.quick else 30)
    steps = args.timesteps or (8000 if args.quick else 50_000)
    base = sweep_args(trials, steps, args.quick)
    words = sys.argv[1:] if argv is None else argv
    head = records.header(shlex.join(["python", "-m", "experiments.benchmarks.sweep", *words]))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in VARIANTS.items():
            if name not in chosen:
                continue
            results[name] = run(name, [*base, *extra], Path(tmp))
            r = results[name]
            print(f"  {name}: {r['wall']:.0f}s", file=sys.stderr)
    record = {**head, "trials": trials, "timesteps": steps, "cpus": os.cpu_count(),
              "variants": results}  # fmt: skip
    print(records.write(record, args.out or RECORD))


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone."""
    results = data["variants"]
    ref = results["no pruning"]
    head = (
        f"{'variant':<24} {'timesteps':>10} {'vs none':>8} {'best':>7} {'top-3':>7} "
        f"{'pruned':>7} {'failed':>7} {'wall s':>7} {'CPU s':>7} {'speed-up':>9}"
    )
    lines = [
        "### Sweeps", "", records.provenance_line(data), "",
        f"PPO on CartPole-v1, {data['trials']} trials x {data['timesteps']} timesteps, "
        f"{data['cpus']} cores", "", "```", head, "-" * len(head),
    ]  # fmt: skip
    for name, r in results.items():
        lines.append(
            f"{name:<24} {r['timesteps']:>10} {r['timesteps'] / ref['timesteps']:>7.0%} "
            f"{r['best']:>7.1f} {r['top3']:>7.1f} {r['pruned']:>7} {r['failed']:>7} "
            f"{r['wall']:>7.0f} {_cpu(r):>7} {ref['wall'] / r['wall']:>8.2f}x"
        )
    lines.append("")
    for name, r in results.items():
        if name.startswith("pruning"):
            share = r["timesteps"] / ref["timesteps"]
            equal = r["best"] >= ref["best"] * (1 - BEST_TOLERANCE)
            met = share <= PRUNED_TIMESTEPS_TARGET and equal
            lines.append(
                f"{name}: {share:.0%} of the timesteps (target ≤ "
                f"{PRUNED_TIMESTEPS_TARGET:.0%}), best {r['best']:.1f} vs {ref['best']:.1f} "
                f"({'equal' if equal else 'LOWER'} within {BEST_TOLERANCE:.1%}): "
                f"{'met' if met else 'NOT met'}"
            )
    if (two := results.get("no pruning, 2 workers")) is not None:
        speedup = ref["wall"] / two["wall"]
        lines.append(
            f"2 workers: {speedup:.2f}x faster on the same {two['trials']} trials (target ≥ "
            f"{SPEEDUP_TARGET}x): {'met' if speedup >= SPEEDUP_TARGET else 'NOT met'}"
        )
    if (off := results.get("no pruning, tracking off")) is not None:
        lines.append(tracking_cost(ref, off))
    return "\n".join([*lines, "```"]) + "\n"


def _cpu(r: dict[str, Any]) -> str:
    return f"{r['cpu']:.0f}" if r.get("cpu") is not None else "-"


def tracking_cost(on: dict[str, Any], off: dict[str, Any]) -> str:
    """Tracking's cost per sweep trial: the same trials with MLflow on and off."""
    n = on["trials"]
    wall = (on["wall"] - off["wall"]) / n
    text = (
        f"tracking: {wall:+.2f} s wall per trial ({on['wall'] / off['wall'] - 1:+.1%}) over "
        f"the same {n} trials with mlflow.enabled=false"
    )
    if on.get("cpu") is not None and off.get("cpu") is not None:
        cpu = (on["cpu"] - off["cpu"]) / n
        text += f"; {cpu:+.2f} s CPU per trial ({on['cpu'] / off['cpu'] - 1:+.1%})"
    return text


if __name__ == "__main__":
    main()
