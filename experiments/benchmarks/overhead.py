"""What the harness and its tracking cost: `python -m rl_harness algo=ppo env=cartpole` with
tracking on and off, against a plain SB3 script of the same hyperparameters.

Each variant runs as its own process, rounds alternated (the order rotates each round), so a
burst of load on a shared machine falls on every variant alike. Per variant, the median of:

    wall s       start to exit
    CPU s        user + sys of the process and every process it waited for (the recording
                 helper, git): os.wait4's rusage. Where every core is busy (sweep workers =
                 cores, a packed node) CPU time is wall time, so the verdicts use it.
    trainer MB   peak RSS (VmHWM) of the training process itself, polled
    largest MB   peak RSS of the largest process of the tree (ru_maxrss; the helper's, if larger)

Ratios are against the plain script measured in the same run; two groups: with evaluation
(every 10k steps, checkpoints every 50k: the shipped defaults) and without either (issue 12's
run). Final evaluations must be identical within a group: the harness adds nothing to learning.

What tracking costs is the difference on − off within each round (the two ran minutes apart),
the median over rounds: a 100k-step run's CPU time varies by ±10% from run to run on a shared
machine, more than the 5% being measured. Its fixed part is measured apart, precisely, on short
runs (`--fixed-steps`, `--fixed-rounds` pairs, no evaluation): imports, opening the store,
packaging the model, whatever the run's length.

    python -m experiments.benchmarks.overhead                   # 100k steps, 3 rounds
    python -m experiments.benchmarks.overhead --timesteps 20000 --rounds 2 --groups "no eval"

Writes the record experiments/results/overhead_full.json (every round of every variant; --out
names another) and its page, rendered from it (`render`).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
from rl_harness.common import tables

CPU_TARGET = 5.0  # % more CPU time, tracking on vs off
WALL_TARGET = 3.0  # % more wall time, tracking on vs off
PLAIN_TARGET = 3.0  # % more CPU time, harness with tracking off vs the plain script
RSS_TARGET = 15.0  # % more peak RSS, the training process vs the plain script
GROUPS = {"eval": "with evaluation", "no eval": "no evaluation, no checkpoints"}
KINDS = ("plain SB3 script", "harness, tracking off", "harness, tracking on")
RECORD = RESULTS / "overhead_full.json"


@dataclass
class Samples:
    """One variant's measurements, a value per round."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    trainer_mb: list[float] = field(default_factory=list)
    largest_mb: list[float] = field(default_factory=list)
    evals: set[str] = field(default_factory=set)

    def median(self, name: str) -> float:
        return statistics.median(getattr(self, name))

    def paired(self, other: Samples, name: str) -> float:
        """Median over rounds of this variant's value minus `other`'s in the same round."""
        pairs = zip(getattr(self, name), getattr(other, name), strict=True)
        return statistics.median(a - b for a, b in pairs)


def harness(steps: int, tmp: str, *overrides: str) -> list[str]:
    return [
        *(sys.executable, "-m", "rl_harness", "algo=ppo", "env=cartpole"),
        *(
            f"n_timesteps={steps}",
            "progress_bar=false",
            f"hydra.run.dir={tmp}/run_${{now:%H%M%S%f}}",
        ),
        *overrides,
    ]


def variants(steps: int, tmp: str, groups: list[str]) -> dict[tuple[str, str], list[str]]:
    """(group, kind) → command line."""
    plain = [sys.executable, "-m", "experiments.benchmarks.plain_sb3_ppo_cartpole", str(steps)]
    cmds = {}
    for group, plain_args, overrides in (
        ("eval", [f"{tmp}/plain", "10000", "50000"], []),
        ("no eval", [f"{tmp}/plain0", "0", "0"], ["eval.freq=0", "checkpoint.freq=0"]),
    ):
        if group not in groups:
            continue
        cmds[group, KINDS[0]] = [*plain, *plain_args]
        cmds[group, KINDS[1]] = harness(steps, tmp, *overrides, "mlflow.enabled=false")
        cmds[group, KINDS[2]] = harness(steps, tmp, *overrides)
    return cmds


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def measure(cmd: list[str], env: dict[str, str], into: Samples) -> None:
    """Run once; the trainer's own peak RSS is polled (its rusage includes the helper's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=err, text=True)
        peak, done = [0.0], threading.Event()

        def poll() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _peak_rss_mb(proc.pid) or 0.0)

        threading.Thread(target=poll, daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): it drops the rusage
        wall = time.perf_counter() - start
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    match = re.search(r"eval (-?[\d.]+)", stdout)
    into.wall.append(wall)
    into.cpu.append(usage.ru_utime + usage.ru_stime)
    into.trainer_mb.append(peak[0] or usage.ru_maxrss / 1024)
    into.largest_mb.append(usage.ru_maxrss / 1024)
    into.evals.add(match.group(1) if match else "?")


def rounds(cmds: dict[tuple[str, str], list[str]], n: int, env: dict[str, str]) -> dict:
    """Every variant once per round, the order rotated by one each round."""
    samples = {key: Samples() for key in cmds}
    keys = list(cmds)
    for r in range(n):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            measure(cmds[key], env, samples[key])
            s = samples[key]
            print(
                f"  round {r + 1}: {key[0]:<8} {key[1]:<22} wall {s.wall[-1]:6.1f} s  "
                f"CPU {s.cpu[-1]:6.1f} s  trainer {s.trainer_mb[-1]:4.0f} MB  "
                f"largest {s.largest_mb[-1]:4.0f} MB  load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
    return samples


def table(samples: dict[tuple[str, str], Samples]) -> str:
    rows = []
    for (group, kind), s in samples.items():
        base = samples[group, KINDS[0]]
        rows.append(
            [
                GROUPS[group],
                kind,
                f"{s.median('wall'):.1f}",
                f"{s.median('wall') / base.median('wall'):.3f}",
                f"{s.median('cpu'):.1f}",
                f"{s.median('cpu') / base.median('cpu'):.3f}",
                f"{s.median('trainer_mb'):.0f}",
                f"{s.median('largest_mb'):.0f}",
                ", ".join(sorted(s.evals)),
            ]
        )
    headers = ["runs", "variant", "wall s", "wall ratio", "CPU s", "CPU ratio"]
    headers += ["trainer peak MB", "largest peak MB", "final eval"]
    return tables.markdown(headers, rows, align="llrrrrrrr")


def _verdict(value: float, target: float) -> str:
    return f"target ≤ {target:g}%: {'met' if value <= target else 'NOT met'}"


def verdicts(samples: dict[tuple[str, str], Samples], fixed: float | None) -> list[str]:
    """The issue-12 targets, each group on its own line."""
    lines = []
    if fixed is not None:
        base = samples["no eval", KINDS[1]] if ("no eval", KINDS[1]) in samples else None
        share = f" = {100 * fixed / base.median('cpu'):.1f}% of the no-eval run" if base else ""
        lines.append(f"- fixed cost of tracking (short runs, paired): {fixed:+.2f} s of CPU{share}")
    for group, label in GROUPS.items():
        if (group, KINDS[0]) not in samples:
            continue
        plain, off, on = (samples[group, kind] for kind in KINDS)
        extra = on.paired(off, "cpu")
        cpu = 100 * extra / off.median("cpu")
        wall = 100 * on.paired(off, "wall") / off.median("wall")
        harness = 100 * off.paired(plain, "cpu") / plain.median("cpu")
        rss = 100 * (
            max(off.median("trainer_mb"), on.median("trainer_mb")) / plain.median("trainer_mb") - 1
        )
        same = len(plain.evals | off.evals | on.evals) == 1
        lines += [
            f"- {label}: tracking costs {extra:+.1f} s of CPU ({cpu:+.1f}%, "
            f"{_verdict(cpu, CPU_TARGET)}) and {wall:+.1f}% of wall time "
            f"({_verdict(wall, WALL_TARGET)}), paired rounds;",
            f"  harness with tracking off vs plain SB3: CPU {harness:+.1f}% "
            f"({_verdict(harness, PLAIN_TARGET)}); training process peak RSS, the larger of "
            f"tracking on / off, vs plain: {rss:+.1f}% ({_verdict(rss, RSS_TARGET)}); final "
            f"evaluations {'identical' if same else 'DIFFER'}.",
        ]
    return lines


def fixed_cost(steps: int, n: int, tmp: str, env: dict[str, str]) -> float | None:
    """Tracking on − off on short runs without evaluation, the median of `n` paired rounds."""
    if n == 0:
        return None
    quiet = ("eval.freq=0", "checkpoint.freq=0")
    off, on = Samples(), Samples()
    for r in range(n):
        pair = [(off, "mlflow.enabled=false"), (on, "mlflow.enabled=true")]
        for into, switch in pair if r % 2 == 0 else pair[::-1]:
            measure(harness(steps, tmp, *quiet, switch), env, into)
        print(
            f"  fixed {r + 1}: off {off.cpu[-1]:5.2f} s  on {on.cpu[-1]:5.2f} s CPU",
            file=sys.stderr,
        )
    return on.paired(off, "cpu")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--groups", nargs="+", choices=list(GROUPS), default=list(GROUPS))
    ap.add_argument("--fixed-steps", type=int, default=2048)
    ap.add_argument("--fixed-rounds", type=int, default=6)
    ap.add_argument("--out", type=Path, help=f"the record (default {records.shown(RECORD)})")
    args = ap.parse_args(argv)
    command = (
        f"python -m experiments.benchmarks.overhead --timesteps {args.timesteps} "
        f"--rounds {args.rounds}"
        f" --groups {' '.join(repr(g) if ' ' in g else g for g in args.groups)}"
        f" --fixed-rounds {args.fixed_rounds}"
        + (f" --out {records.shown(args.out)}" if args.out else "")
    )
    head = records.header(command)  # the code and the load average at the start
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        cmds = variants(args.timesteps, tmp, args.groups)
        # The store is created once, before the rounds: its first-run migrations are not a
        # per-run cost (a user's store exists after their first run).
        subprocess.run(
            harness(256, tmp, "eval.freq=0", "checkpoint.freq=0"),
            env=env,
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        fixed = fixed_cost(args.fixed_steps, args.fixed_rounds, tmp, env)
        samples = rounds(cmds, args.rounds, env)
    record = {
        **head,
        "timesteps": args.timesteps,
        "rounds": args.rounds,
        "load_at_end": round(os.getloadavg()[0], 1),
        "fixed_cpu_s": fixed,
        "variants": [
            {"group": g, "kind": k, **asdict(v), "evals": sorted(v.evals)}
            for (g, k), v in samples.items()
        ],
    }
    print(records.write(record, args.out or RECORD))


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone."""
    samples = {
        (v["group"], v["kind"]): Samples(
            v["wall"], v["cpu"], v["trainer_mb"], v["largest_mb"], set(v["evals"])
        )
        for v in data["variants"]
    }
    return "\n".join([
        "### Overhead", "", records.provenance_line(data), "",
        f"PPO CartPole-v1, {data['timesteps']} steps, {data['rounds']} rounds alternated, "
        "medians; ratios against the plain SB3 script of the same group; load average at end "
        f"{data['load_at_end']}.", "",
        table(samples), "", *verdicts(samples, data["fixed_cpu_s"]),
    ]) + "\n"  # fmt: skip


if __name__ == "__main__":
    main()
