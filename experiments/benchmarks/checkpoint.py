"""What exact resume costs: a checkpoint's write time and size with the training state
(training/exact_state.py) against without it, and a training run's CPU time against the code
before it.

    python -m experiments.benchmarks.checkpoint                          # checkpoints only (~1 min)
    python -m experiments.benchmarks.checkpoint --baseline-tree ../old    # + training CPU, 3 rounds

Checkpoints: each config trains briefly (so the envs are mid-episode and the buffers filled),
then writes `--rounds` checkpoints each way, alternated; medians of wall and CPU seconds, and
the size of everything but the replay buffer. Training: `python -m rl_harness` of this tree and
of `--baseline-tree` (a checkout of the commit before, run with the same interpreter), rounds
alternated, CPU time of the process tree (os.wait4). Writes a JSON record and its Markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.lib import records
from experiments.lib.common import ROOT

RECORD = ROOT / "experiments" / "results" / "checkpoint_cost.json"
ROUNDS, TRAIN_ROUNDS = 10, 3  # defaults of --rounds and --train-rounds
CONFIGS = {
    "ppo-cartpole (8 envs)": ["algo=ppo", "env=cartpole", "n_timesteps=4096"],
    "sac-pendulum": ["algo=sac", "env=pendulum", "n_timesteps=600", "algo.learning_starts=100"],
    "dqn-custom (4 envs, VecNormalize)": ["algo=dqn", "env=custom", "n_timesteps=4000"],
    "qlearning-custom (1024 envs)": ["algo=qlearning", "env=custom", "n_timesteps=100000"],
}
TRAIN = ["algo=ppo", "env=cartpole", "n_timesteps=30000", "checkpoint.freq=2000",
         "eval.freq=5000", "mlflow.enabled=false", "progress_bar=false"]  # fmt: skip


def checkpoint_costs(name: str, overrides: list[str], rounds: int) -> dict[str, Any]:
    from experiments.lib.common import compose_cfg
    from rl_harness.build import make as build
    from rl_harness.training import checkpoints, exact_state, train
    from rl_harness.training.callbacks import make_callbacks

    cfg = compose_cfg([*overrides, "mlflow.enabled=false", "eval.freq=1000", "progress_bar=false"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        env, eval_env = build.make_env(cfg), build.make_env(cfg, evaluation=True)
        model = build.make_model(cfg, env, train.validate(cfg)[1])
        callbacks = make_callbacks(cfg, eval_env, out)
        model.learn(cfg.n_timesteps, callback=callbacks)
        times: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
        sizes: dict[str, int] = {}
        for r in range(rounds):
            for variant in ("without", "with") if r % 2 == 0 else ("with", "without"):
                root = out / variant
                wall, cpu = time.perf_counter(), time.process_time()
                state = exact_state.capture(model, callbacks) if variant == "with" else None
                saved = checkpoints.save(model, root, keep=1, replay_buffer=False, state=state)
                times[variant].append((time.perf_counter() - wall, time.process_time() - cpu))
                sizes[variant] = sum(f.stat().st_size for f in saved.iterdir())
        env.close()
        eval_env.close()
    row: dict[str, Any] = {"config": name, "overrides": overrides}
    for variant, pairs in times.items():
        row[f"{variant}_wall_ms"] = 1000 * statistics.median(w for w, _ in pairs)
        row[f"{variant}_cpu_ms"] = 1000 * statistics.median(c for _, c in pairs)
        row[f"{variant}_bytes"] = sizes[variant]
    row["wall_ratio"] = row["with_wall_ms"] / row["without_wall_ms"]
    row["size_ratio"] = row["with_bytes"] / row["without_bytes"]
    return row


def training_cpu(baseline: Path, rounds: int) -> dict[str, Any]:
    """CPU and wall seconds of one training command, this tree against `baseline`."""
    runs: dict[str, list[tuple[float, float]]] = {"this": [], "baseline": []}
    for r in range(rounds):
        for variant in ("this", "baseline") if r % 2 == 0 else ("baseline", "this"):
            tree = ROOT if variant == "this" else baseline.resolve()
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "rl_harness", *TRAIN, f"hydra.run.dir={tmp}/run"],
                    cwd=tree,
                    env={**os.environ, "PYTHONPATH": str(tree)},
                    stdout=subprocess.DEVNULL,
                )
                _, status, usage = os.wait4(proc.pid, 0)
                if status != 0:
                    raise SystemExit(f"training in {tree} failed ({status})")
                runs[variant].append((time.perf_counter() - start, usage.ru_utime + usage.ru_stime))
    med = {v: (statistics.median(w for w, _ in p), statistics.median(c for _, c in p))
           for v, p in runs.items()}  # fmt: skip
    return {
        "command": " ".join(["python -m rl_harness", *TRAIN]),
        "rounds": rounds,
        "this_wall_s": med["this"][0],
        "this_cpu_s": med["this"][1],
        "baseline_wall_s": med["baseline"][0],
        "baseline_cpu_s": med["baseline"][1],
        "cpu_ratio": med["this"][1] / med["baseline"][1],
        "wall_ratio": med["this"][0] / med["baseline"][0],
    }


def render(data: dict) -> str:
    lines = [
        "# What exact resume costs",
        "",
        f"_Generated by `{data['command']}` at commit {data['commit']} on {data['machine']}._",
        "",
        f"Checkpoint writes (median of {data['rounds']} each, alternated; wall time is mostly "
        "the filesystem's (fsync, unlink: ~4 ms steps), CPU time the process's own; size "
        f"without the replay buffer; load average {data.get('load_at_start', '?')} at the start):",
        "",
        "| config | ms without state | ms with | × | CPU ms without | CPU ms with "
        "| bytes without | bytes with | × |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["checkpoints"]:
        lines.append(
            f"| {r['config']} | {r['without_wall_ms']:.1f} | {r['with_wall_ms']:.1f} | "
            f"{r['wall_ratio']:.2f} | {r['without_cpu_ms']:.2f} | {r['with_cpu_ms']:.2f} | "
            f"{r['without_bytes']:,} | {r['with_bytes']:,} | {r['size_ratio']:.2f} |"
        )
    if t := data.get("training"):
        lines += [
            "",
            f"Training (`{t['command']}`, median of {t['rounds']} rounds, alternated, against "
            f"commit {data['baseline_commit']}): CPU {t['this_cpu_s']:.1f} s against "
            f"{t['baseline_cpu_s']:.1f} s (×{t['cpu_ratio']:.3f}), wall {t['this_wall_s']:.1f} s "
            f"against {t['baseline_wall_s']:.1f} s (×{t['wall_ratio']:.3f}).",
        ]
    return "\n".join(lines) + "\n"


def _commit(tree: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True
    ).stdout.strip()


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, less the defaults: the record's command reruns it."""
    return (
        "python -m experiments.benchmarks.checkpoint"
        + (f" --rounds {args.rounds}" if args.rounds != ROUNDS else "")
        + (f" --baseline-tree {args.baseline_tree}" if args.baseline_tree else "")
        + (f" --train-rounds {args.train_rounds}" if args.train_rounds != TRAIN_ROUNDS else "")
        + (f" --out {records.shown(args.out)}" if args.out != RECORD else "")
    )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS, help="checkpoints written each way")
    ap.add_argument("--baseline-tree", type=Path, help="a checkout of the code before")
    ap.add_argument("--train-rounds", type=int, default=TRAIN_ROUNDS)
    ap.add_argument("--out", type=Path, default=RECORD)
    ap.add_argument("--render", action="store_true", help="only re-render the Markdown")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not args.render:
        command = command_line(args)
        data: dict[str, Any] = {
            **records.header(command),
            "rounds": args.rounds,
            "checkpoints": [checkpoint_costs(n, o, args.rounds) for n, o in CONFIGS.items()],
        }
        if args.baseline_tree:
            data["baseline_commit"] = _commit(args.baseline_tree)
            data["training"] = training_cpu(args.baseline_tree, args.train_rounds)
    else:
        data = records.load(args.out)
    print(records.write(data, args.out))


if __name__ == "__main__":
    main()
