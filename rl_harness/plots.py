"""Learning-curve figure from the files a run leaves in its output directory."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_x, train_y = [], []
    # a resumed run leaves progress_until_step_*.csv beside the current progress.csv
    for part in [*sorted(out_dir.glob("progress_until_*.csv")), out_dir / "progress.csv"]:
        xs, ys = _progress_curve(part, "rollout/ep_rew_mean")
        train_x += xs
        train_y += ys
    evals = out_dir / "evaluations.npz"
    if not train_x and not evals.exists():
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train_x:
        ax.plot(train_x, train_y, label="training episodes (mean of last 100)", alpha=0.7)
    if evals.exists():
        data = np.load(evals)
        steps, results = data["timesteps"], data["results"]
        mean, std = results.mean(axis=1), results.std(axis=1)
        ax.plot(steps, mean, marker="o", label="evaluation mean")
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2, label="evaluation ± std")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
