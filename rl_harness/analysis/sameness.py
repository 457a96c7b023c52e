"""Did two runs come out the same? Final weights, metric history, closing evaluation.

The one comparison behind exact resume's checks (a resumed run against the same command run
without a stop) and `rerun=<run id>` (a record re-executed). Each function returns the
differences as lines a person reads, empty when the two are the same:

- weights: every tensor of the two model files (policy, optimizer, entropy coefficient; a
  Q-table), compared with `torch.equal`, the largest absolute difference named where not;
- metric history: every value the store holds at every step, timing (`time/`), system
  (`system/`) and resume markers (`resume/`) aside; a value logged twice at one step (steps a
  resumed run redid) counts once when both agree;
- closing evaluation: `final/*`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

# What differs between two identical trainings by nature: wall-clock rates and times, the
# machine's load, and the marker a resume leaves.
IGNORED_METRICS = ("time/", "system/", "resume/")
History = dict[str, dict[int, float]]


def tensors(model_file: Path) -> dict[str, Any]:
    """Every array of a saved model, by a dotted name: the torch files of an SB3 zip (policy,
    optimizers, other variables), or the arrays of a Q-learning archive."""
    import torch

    out: dict[str, Any] = {}
    with zipfile.ZipFile(model_file) as archive:
        for name in archive.namelist():
            raw = archive.read(name)
            if name.endswith(".pth"):
                loaded = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
                out.update(_flatten(loaded, name.removesuffix(".pth")))
            elif name.endswith(".npy"):
                out[name.removesuffix(".npy")] = np.load(io.BytesIO(raw), allow_pickle=False)
    return out


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}.{i}")
    else:
        yield prefix, value


def weight_differences(a: Path, b: Path) -> list[str]:
    """Tensors that differ between two model files (all equal: an empty list)."""
    import torch

    first, second = tensors(a), tensors(b)
    lines = [
        f"{name}: only in {a.name if name in first else b.name}"
        for name in sorted(set(first) ^ set(second))
    ]
    for name in sorted(set(first) & set(second)):
        x, y = first[name], second[name]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.shape != y.shape or not torch.equal(x, y):
                lines.append(f"{name}: {_largest_difference(x.numpy(), y.numpy())}")
        elif isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.shape != y.shape or not np.array_equal(x, y):
                lines.append(f"{name}: {_largest_difference(x, y)}")
        elif x != y:
            lines.append(f"{name}: {x!r} != {y!r}")
    return lines


def _largest_difference(x: np.ndarray, y: np.ndarray) -> str:
    if x.shape != y.shape:
        return f"shape {x.shape} != {y.shape}"
    diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
    return f"max |difference| {diff.max():.3g} ({int((diff > 0).sum())} of {diff.size} differ)"


def metric_history(client: Any, run_id: str, ignored: tuple[str, ...] = IGNORED_METRICS) -> History:
    """{metric: {step: value}} of a run; a step logged twice with two values keeps both
    visible as a list (a divergence)."""
    run = client.get_run(run_id)
    history: History = {}
    for key in sorted(run.data.metrics):
        if key.startswith(ignored):
            continue
        steps: dict[int, Any] = {}
        for m in client.get_metric_history(run_id, key):
            if m.step in steps and not _same(steps[m.step], m.value):
                previous = steps[m.step]
                values = previous if isinstance(previous, list) else [previous]
                steps[m.step] = [*values, m.value]
            else:
                steps[m.step] = m.value
        history[key] = steps
    return history


def _same(x: Any, y: Any) -> bool:
    """Equal, NaN equal to NaN (a CI over one episode is NaN in both runs)."""
    if isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y):
        return True
    return bool(x == y)


def history_differences(a: History, b: History) -> list[str]:
    """Metrics, steps and values that differ between two histories."""
    lines = []
    for key in sorted(set(a) ^ set(b)):
        lines.append(f"{key}: only in the {'first' if key in a else 'second'} run")
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if missing := sorted(set(x) ^ set(y)):
            lines.append(f"{key}: steps {missing[:5]} in one run only ({len(missing)} in all)")
        differing = [s for s in sorted(set(x) & set(y)) if not _same(x[s], y[s])]
        if differing:
            s = differing[0]
            lines.append(
                f"{key}: {len(differing)} of {len(set(x) & set(y))} steps differ, first at "
                f"step {s}: {x[s]} != {y[s]}"
            )
    return lines


def final_differences(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """The closing evaluations (`final/*` metrics) that differ."""
    keys = sorted(k for k in set(a) | set(b) if k.startswith("final/"))
    return [f"{k}: {a.get(k)} != {b.get(k)}" for k in keys if not _same(a.get(k), b.get(k))]
