"""Learning-curve figure from the files a run leaves in its output directory, and the figures
of `compare` (learning curves with confidence bands across seeds, final performance)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from rl_harness.common.stats import mean_std


def _progress_curve(path: Path, key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    if path.exists():
        with path.open() as f:
            for row in csv.DictReader(f):
                x, y = row.get("time/total_timesteps"), row.get(key)
                if x and y:
                    xs.append(float(x))
                    ys.append(float(y))
    return xs, ys


def plot_learning_curve(out_dir: Path, path: Path, title: str = "") -> Path | None:
    """Training episode return and periodic evaluation (mean ± std) against timesteps."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend, and ~0.5 s less import

    train_x, train_y = [], []
    # a resumed run leaves progress_until_step_*.csv beside the current progress.csv
    for part in [*sorted(out_dir.glob("progress_until_*.csv")), out_dir / "progress.csv"]:
        xs, ys = _progress_curve(part, "rollout/ep_rew_mean")
        train_x += xs
        train_y += ys
    evals = out_dir / "evaluations.npz"
    if not train_x and not evals.exists():
        return None
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    if train_x:
        ax.plot(train_x, train_y, label="training episodes (mean of last 100)", alpha=0.7)
    if evals.exists():
        data = np.load(evals)
        steps, results = data["timesteps"], data["results"]
        mean, std = np.array([mean_std(r) for r in results]).T
        ax.plot(steps, mean, marker="o", label="evaluation mean")
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2, label="evaluation ± std")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _by_env(keys: list[tuple[str, str]]) -> list[str]:
    return sorted({env for env, _ in keys})


def _subplots(n: int, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(6.5 * n, height), dpi=100, squeeze=False)
    return fig, axes[0]


def plot_learning_curves(
    curves: dict[tuple[str, str], tuple | None], path: Path, metric: str, subtitle: str
) -> Path:
    """Per env: one line per algorithm (steps, IQM) with a band (CI low, CI high)."""
    import matplotlib.pyplot as plt

    envs = _by_env(list(curves))
    fig, axes = _subplots(len(envs))
    for ax, env in zip(axes, envs, strict=True):
        for (e, label), c in sorted(curves.items()):
            if e != env or c is None:
                continue
            steps, mid, low, high = c
            (line,) = ax.plot(steps, mid, marker="o", markersize=3, label=label)
            if np.isfinite(low).any():
                ax.fill_between(steps, low, high, alpha=0.2, color=line.get_color())
        ax.set_title(f"{env.split(':')[-1]}\n{subtitle}", fontsize=10)
        ax.set_xlabel("timesteps")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_final_performance(
    finals: dict[tuple[str, str], tuple[dict, list[float]]], path: Path, metric: str, subtitle: str
) -> Path:
    """Per env: per algorithm the IQM with its CI as an interval, the seeds as dots, and the
    optimum (when known) as a dashed line."""
    import matplotlib.pyplot as plt

    envs = _by_env(list(finals))
    rows = max(sum(1 for e, _ in finals if e == env) for env in envs)
    fig, axes = _subplots(len(envs), height=1.5 + 0.6 * rows)
    for ax, env in zip(axes, envs, strict=True):
        items = sorted((label, v) for (e, label), v in finals.items() if e == env)
        optimum = None
        for y, (_, (row, scores)) in enumerate(items):
            lo, hi = row["iqm_ci_low"], row["iqm_ci_high"]
            if np.isfinite(lo):
                ax.plot([lo, hi], [y, y], linewidth=6, alpha=0.35, solid_capstyle="butt")
            ax.plot([row["iqm"]], [y], "k|", markersize=16)
            ax.scatter(scores, [y] * len(scores), s=12, color="k", alpha=0.6, zorder=3)
            optimum = row.get("optimum") or optimum
        if optimum:
            ax.axvline(optimum, linestyle="--", color="tab:green", label="optimum")
            ax.legend(loc="best", fontsize=8)
        ax.set_yticks(range(len(items)), [label for label, _ in items])
        ax.set_ylim(-0.7, len(items) - 0.3)
        ax.set_title(f"{env.split(':')[-1]}\n{subtitle}", fontsize=10)
        ax.set_xlabel(metric)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


Interval = tuple[float, float]


def plot_validation(
    retests: list[tuple[str, float, Interval, float, Interval]],
    finalists: list[tuple[str, list[float], float, Interval]],
    improvement: tuple[float, Interval],
    path: Path,
    metric: str,
) -> Path:
    """Three panels: per re-tested trial its tuning score against its test IQM (the diagonal is
    a perfect reproduction); champion and incumbent, each test seed as a dot and the IQM with
    its CI; the probability of improvement with its CI against 0.5.

    `retests`: (label, tuning, tuning CI, test IQM, test CI); `finalists`: (label, scores, IQM,
    CI); `improvement`: (P(champion > incumbent), its CI).
    """
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4), width_ratios=[1.2, 1.2, 0.6])
    for label, x, xci, y, yci in retests:
        xerr = [[x - xci[0]], [xci[1] - x]] if np.isfinite(xci[0]) else None
        ax1.errorbar(x, y, xerr=xerr, yerr=[[y - yci[0]], [yci[1] - y]], fmt="o", capsize=3)
        ax1.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    values = [v for _, x, _, y, _ in retests for v in (x, y)]
    lo, hi = min(values), max(values)
    ax1.plot([lo, hi], [lo, hi], "--", color="grey", label="test = tuning")
    ax1.set_xlabel(f"tuning score ({metric})")
    ax1.set_ylabel("test IQM (unseen seeds)")
    ax1.set_title("Reproduction: tuning vs test", fontsize=10)
    ax1.legend(fontsize=8)
    for y, (_, scores, center, ci) in enumerate(finalists):
        ax2.plot(list(ci), [y, y], linewidth=8, alpha=0.35, solid_capstyle="butt")
        ax2.plot([center], [y], "k|", markersize=18)
        ax2.scatter(scores, [y] * len(scores), s=14, color="k", alpha=0.6, zorder=3)
    ax2.set_yticks(range(len(finalists)), [f[0] for f in finalists])
    ax2.set_ylim(-0.7, len(finalists) - 0.3)
    ax2.set_xlabel(f"{metric} on the test seeds (IQM, 95% CI)")
    ax2.set_title("Champion vs incumbent", fontsize=10)
    p, (plo, phi) = improvement
    if np.isfinite(plo):
        ax3.plot([0, 0], [plo, phi], linewidth=8, alpha=0.35, solid_capstyle="butt")
    ax3.plot([0], [p], "ko")
    ax3.axhline(0.5, linestyle="--", color="grey")
    ax3.set_ylim(0, 1)
    ax3.set_xticks([])
    ax3.set_ylabel("P(champion > incumbent)")
    ax3.set_title("Probability of improvement", fontsize=10)
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":  # python -m rl_harness.common.plots <out_dir> <png> <title>
    import sys

    plot_learning_curve(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])


def plot_per_seed(
    records: list[tuple[str, dict[str, list[tuple[int, float]]]]], path: Path, title: str
) -> Path:
    """Per algorithm (x), every seed's value as a dot, one column of dots per record (e.g. before
    and after a re-tuning: one record now, two side by side later), its mean as a dash and its
    worst seed labelled. `records`: (label, {algorithm: [(seed, value), ...]}) in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algos = list(dict.fromkeys(a for _, rows in records for a in rows))
    width = 0.7 / len(records)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(algos) * len(records) ** 0.5, 4.2))
    for i, (label, rows) in enumerate(records):
        offset = (i - (len(records) - 1) / 2) * width
        color = f"C{i}"
        first = next(a for a in algos if rows.get(a))  # the record's legend entry goes there
        for x, algo in enumerate(algos):
            if not (pairs := rows.get(algo)):
                continue
            values = [v for _, v in pairs]
            jitter = np.linspace(-width / 4, width / 4, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(x + offset + np.asarray(jitter), values, s=22, color=color, zorder=3,
                       label=label if algo == first else None)  # fmt: skip
            ax.plot([x + offset - width / 3, x + offset + width / 3], [np.mean(values)] * 2,
                    color=color, linewidth=1.5)  # fmt: skip
            seed, worst = min(pairs, key=lambda p: p[1])
            # two short lines, so the labels of columns side by side do not run into each other
            ax.annotate(f"{worst:.1f}\nseed {seed}", (x + offset, worst), fontsize=7,
                        xytext=(0, -6), textcoords="offset points", ha="center",
                        va="top")  # fmt: skip
    ax.set_xticks(range(len(algos)), algos)
    ax.set_ylabel("% of optimum (closing evaluation)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    low = min(v for _, rows in records for pairs in rows.values() for _, v in pairs)
    ax.set_ylim(low - 1.0, 100.2)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
