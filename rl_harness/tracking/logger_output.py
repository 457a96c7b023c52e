"""SB3's logger stream into MLflow: an output format handing numeric records to a sink.

The sink is `tracking.MetricBuffer.add` when this process records the run, or a message to the
helper process when that one does (recording.py); both batch the database writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stable_baselines3.common.logger import KVWriter


def numeric(
    key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    """The records MLflow can plot: numbers (numpy scalars included), not bools, not excluded."""
    out = {}
    for key, value in key_values.items():
        if "mlflow" in (key_excluded.get(key) or ()) or isinstance(value, bool):
            continue
        if hasattr(value, "item") and getattr(value, "size", 1) == 1:
            value = value.item()
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out


class MetricsOutput(KVWriter):
    """Every `logger.dump(step)` becomes metrics stepped by timesteps."""

    def __init__(
        self, sink: Callable[[dict[str, float], int], None], flush: Callable[[], None]
    ) -> None:
        self.sink, self.flush = sink, flush

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
    ) -> None:
        if values := numeric(key_values, key_excluded):
            self.sink(values, int(step))

    def close(self) -> None:
        self.flush()
