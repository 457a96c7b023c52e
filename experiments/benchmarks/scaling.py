"""Scaling of the harness's wall time, PPO on CartPole-v1 with its shipped hyperparameters.

    python -m experiments.benchmarks.scaling --quick   # `make bench` (~3 min, into .bench-quick/)
    python -m experiments.benchmarks.scaling           # part of `make bench-full`

Three sweeps, each run through `train.run` in this process with tracking, periodic evaluation
and checkpoints off (`mlflow.enabled=false eval.freq=0 checkpoint.freq=0`, one final evaluation
episode), the variants alternated and their order rotated every round; the median is reported:

1. wall time against n_timesteps, with a least-squares line (slope = cost per step, intercept =
   fixed cost per run) and its R²;
2. against n_envs (1, 2, 4, 8) for `vec_env=dummy` and `vec_env=subproc`; `algo.n_steps` is
   256 / n_envs, so every variant collects 256 steps per update and runs the same updates: what
   changes is only how the environments are stepped;
3. `torch_threads` 1 against 2.

Writes the record experiments/results/scaling_full.json (every round's time; --quick: into
.bench-quick/, never published) and its page, rendered from it (`render`), and draws
scaling_{timesteps,envs,threads}.png beside them from the same record.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.lib import records  # noqa: E402
from experiments.lib.common import RESULTS, ROOT, compose_cfg, rotated  # noqa: E402
from rl_harness.training import train  # noqa: E402

BASE = [
    "algo=ppo",
    "env=cartpole",
    "mlflow.enabled=false",
    "eval.freq=0",
    "checkpoint.freq=0",
    "progress_bar=false",
    "eval.episodes=1",
]
ROLLOUT = 256  # steps per update in ppo_cartpole.yaml: n_envs 8 × n_steps 32
RECORD = RESULTS / "scaling_full.json"
QUICK_RECORD = ROOT / ".bench-quick" / "scaling_quick.json"
COUNTS = (1, 2, 4, 8)
KINDS = ("dummy", "subproc")


@dataclass(frozen=True)
class Settings:
    timesteps: tuple[int, ...]
    timestep_rounds: int
    envs_steps: int
    envs_rounds: int
    threads_steps: int
    threads_rounds: int


QUICK = Settings((4_096, 8_192, 16_384, 32_768), 2, 8_192, 1, 12_288, 2)
FULL = Settings((25_600, 51_200, 102_400, 204_800), 3, 51_200, 3, 102_400, 3)


def scaled(s: Settings, factor: float) -> Settings:
    """Budgets times `factor`, kept whole multiples of one update's rollout."""

    def steps(n: int) -> int:
        return max(ROLLOUT, round(n * factor / ROLLOUT) * ROLLOUT)

    return Settings(
        tuple(steps(t) for t in s.timesteps),
        s.timestep_rounds,
        steps(s.envs_steps),
        s.envs_rounds,
        steps(s.threads_steps),
        s.threads_rounds,
    )


def timed(overrides: list[str]) -> float:
    """Wall seconds of one `train.run` (build, learn, final evaluation, save)."""
    cfg = compose_cfg([*BASE, *overrides])
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        start = time.perf_counter()
        train.run(cfg)
        return time.perf_counter() - start


def alternate(variants: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    """Each variant once per round, the order rotated each round."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r, name in rotated(list(variants), rounds):
        times[name].append(timed(variants[name]))
        print(f"  round {r + 1}: {name:<24} {times[name][-1]:7.2f} s", file=sys.stderr)
    return times


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope, intercept and R² of the least-squares line y = slope * x + intercept."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else 1.0
    return float(slope), float(intercept), r2


def measure(s: Settings) -> dict[str, dict[str, list[float]]]:
    """Every round's wall time of every variant, per sweep."""
    print("[scaling] wall time vs n_timesteps", file=sys.stderr)
    steps = alternate({str(t): [f"n_timesteps={t}"] for t in s.timesteps}, s.timestep_rounds)
    print("[scaling] wall time vs n_envs, Dummy vs Subproc", file=sys.stderr)
    envs = alternate(
        {
            f"{kind} n_envs={n}": [
                f"vec_env={kind}",
                f"n_envs={n}",
                f"algo.n_steps={ROLLOUT // n}",
                f"n_timesteps={s.envs_steps}",
            ]
            for kind in KINDS
            for n in COUNTS
        },
        s.envs_rounds,
    )
    print("[scaling] torch threads", file=sys.stderr)
    threads = alternate(
        {f"torch_threads={n}": [f"torch_threads={n}", f"n_timesteps={s.threads_steps}"]
         for n in (1, 2)},
        s.threads_rounds,
    )  # fmt: skip
    return {"timesteps": steps, "envs": envs, "threads": threads}


def _medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in times.items()}


def table_timesteps(s: Settings, times: dict[str, list[float]]) -> list[str]:
    x = np.array(s.timesteps, dtype=float)
    y = np.array([statistics.median(times[str(t)]) for t in s.timesteps])
    slope, intercept, r2 = linear_fit(x, y)
    rows = [f"| {t:,} | {m:.2f} | {t / m:,.0f} |" for t, m in zip(s.timesteps, y, strict=True)]
    return [
        "| n_timesteps | wall s | steps/s |",
        "|---|---|---|",
        *rows,
        "",
        f"Linear fit: {1000 * slope:.3f} s per 1k steps + {intercept:.2f} s fixed, "
        f"R² = {r2:.4f} ({s.timestep_rounds} rounds, medians).",
    ]


def table_envs(s: Settings, times: dict[str, list[float]]) -> list[str]:
    med = _medians(times)
    rows = [
        f"| {n} | "
        + " | ".join(
            f"{med[f'{kind} n_envs={n}']:.2f} ({s.envs_steps / med[f'{kind} n_envs={n}']:,.0f}/s)"
            for kind in KINDS
        )
        + " |"
        for n in COUNTS
    ]
    return [
        "| n_envs | dummy: wall s (steps/s) | subproc: wall s (steps/s) |",
        "|---|---|---|",
        *rows,
        "",
        f"{s.envs_steps:,} steps, n_steps = {ROLLOUT} / n_envs, {s.envs_rounds} round(s), medians.",
    ]


def table_threads(s: Settings, times: dict[str, list[float]]) -> list[str]:
    med = _medians(times)
    one = med["torch_threads=1"]
    rows = [f"| {k.split('=')[1]} | {m:.2f} | {m / one:.3f} |" for k, m in med.items()]
    return [
        "| torch_threads | wall s | ratio to 1 |",
        "|---|---|---|",
        *rows,
        "",
        f"{s.threads_steps:,} steps, {s.threads_rounds} rounds, medians.",
    ]


def figures(data: dict[str, Any], folder: Path) -> None:
    """The three PNGs, from the record."""
    s, times = Settings(**data["settings"]), data["times"]
    x = np.array(s.timesteps, dtype=float)
    y = np.array([statistics.median(times["timesteps"][str(t)]) for t in s.timesteps])
    slope, intercept, r2 = linear_fit(x, y)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for t in s.timesteps:
        ax.scatter([t] * len(times["timesteps"][str(t)]), times["timesteps"][str(t)],
                   color="tab:blue", s=12)  # fmt: skip
    ax.plot(x, slope * x + intercept, color="tab:orange",
            label=f"{1000 * slope:.3f} s/1k steps + {intercept:.2f} s, R²={r2:.4f}")  # fmt: skip
    ax.set(xlabel="n_timesteps", ylabel="wall time (s)", title="PPO CartPole-v1: wall vs steps")
    ax.legend(fontsize=8)
    _save(fig, folder / "scaling_timesteps.png")
    med = _medians(times["envs"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind in KINDS:
        ax.plot(COUNTS, [med[f"{kind} n_envs={n}"] for n in COUNTS], marker="o", label=kind)
    ax.set(xscale="log", xlabel="n_envs", ylabel="wall time (s)",
           title=f"PPO CartPole-v1, {s.envs_steps:,} steps")  # fmt: skip
    ax.minorticks_off()
    ax.set(xticks=COUNTS, xticklabels=[str(n) for n in COUNTS])
    ax.legend()
    _save(fig, folder / "scaling_envs.png")
    med = _medians(times["threads"])
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.bar(list(med), list(med.values()), color=["tab:blue", "tab:orange"])
    for i, k in enumerate(med):
        ax.scatter([i] * len(times["threads"][k]), times["threads"][k], color="black", s=10,
                   zorder=3)  # fmt: skip
    ax.set(ylabel="wall time (s)", title=f"PPO CartPole-v1, {s.threads_steps:,} steps")
    _save(fig, folder / "scaling_threads.png")


def _save(fig: plt.Figure, png: Path) -> None:
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller budgets (make bench)")
    ap.add_argument("--out", type=Path, help="the record (default: scaling_<mode>.json)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply all budgets (smoke tests)")
    args = ap.parse_args(argv)
    s, mode = (QUICK, "quick") if args.quick else (FULL, "full")
    if args.scale != 1.0:
        s = scaled(s, args.scale)
    out = args.out or (QUICK_RECORD if args.quick else RECORD)
    command = (
        "python -m experiments.benchmarks.scaling"
        + (" --quick" if args.quick else "")
        + (f" --scale {args.scale:g}" if args.scale != 1.0 else "")
        + (f" --out {records.shown(args.out)}" if args.out else "")
    )
    head = records.header(command)
    start = time.perf_counter()
    timed([f"n_timesteps={ROLLOUT}"])  # warm-up: lazy imports and first-call costs
    times = measure(s)
    record = {
        **head,
        "mode": mode,
        "minutes": (time.perf_counter() - start) / 60,
        "settings": asdict(s),
        "times": times,
    }
    print(records.write(record, out))
    figures(records.load(out), out.parent)


def render(data: dict[str, Any]) -> str:
    """The page, from the record alone (its figures are drawn beside it by the script)."""
    s, times = Settings(**data["settings"]), data["times"]
    s = Settings(tuple(s.timesteps), *list(asdict(s).values())[1:])
    lines = [f"### Scaling ({data['mode']}, {data['minutes']:.1f} min)", "",
             records.provenance_line(data), ""]  # fmt: skip
    for title, table, name in (
        ("wall time vs n_timesteps", table_timesteps, "timesteps"),
        ("wall time vs n_envs, Dummy vs Subproc", table_envs, "envs"),
        ("torch threads", table_threads, "threads"),
    ):
        lines += [f"#### Scaling: {title}", "", *table(s, times[name]), "",
                  f"![{title}](experiments/results/scaling_{name}.png)", ""]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
