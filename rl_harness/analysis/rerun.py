"""`python -m rl_harness rerun=<run id>`: train a recorded run again and say whether it came out
the same — final weights, metric history, closing evaluation (analysis.sameness).

    training.rerun.find   the run, its config, drift (refused unless rerun.allow_drift=true)
    training.launch       train.run: a new run in a fresh output directory, tagged
                          rerun_of=<original id>
    verdict               the three comparisons against the original's record
    record                tags rerun.same (and per part), artifact rerun/differences.txt; the
                          verdict line printed last

The verdict is recorded on the new run once it has FINISHED: its own metrics must be in the
store to be compared. A comparison that fails (the store gone meanwhile) tags `rerun.error`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rl_harness.analysis import sameness
from rl_harness.training import rerun as finding

DIFFERENCES = "rerun/differences.txt"
PARTS = {"weights": "weights", "history": "metric history", "final": "closing evaluation"}


@dataclass(frozen=True)
class Verdict:
    """What differs between a run and its rerun, part by part (empty lists: the same)."""

    original: str
    rerun: str
    weights: list[str]
    history: list[str]
    final: list[str]
    drift: list[str] = field(default_factory=list)  # allowed differences before it started
    notes: list[str] = field(default_factory=list)  # another machine, an inexact resume
    overrides: str = ""  # the original's command-line overrides, for people

    @property
    def same(self) -> bool:
        return not (self.weights or self.history or self.final)

    def parts(self) -> dict[str, list[str]]:
        return {part: getattr(self, part) for part in PARTS}

    def line(self) -> str:
        """The one line a person reads: same, or how many differ and the first of each."""
        head = f"rerun {self.rerun} of {self.original}: "
        if self.same:
            head += "SAME weights, metric history and closing evaluation"
        else:
            head += "DIFFERENT " + "; ".join(
                f"{PARTS[part]}: {len(lines)} differ, first {lines[0]}"
                for part, lines in self.parts().items()
                if lines
            )
        if self.drift:
            head += f" (ran with drift: {'; '.join(self.drift)})"
        return head

    def text(self) -> str:
        """rerun/differences.txt: every difference, by part."""
        out = [f"rerun {self.rerun} of {self.original}: {'same' if self.same else 'different'}"]
        out += [f"the original's overrides: {self.overrides}"] if self.overrides else []
        sections = {
            **{PARTS[p]: lines for p, lines in self.parts().items()},
            "drift (allowed by rerun.allow_drift)": self.drift,
            "noted (not refused)": self.notes,
        }
        for title, lines in sections.items():
            out += ["", f"## {title}: {len(lines) or 'none'}", *lines]
        return "\n".join(out) + "\n"

    def tags(self) -> dict[str, str]:
        parts = {f"rerun.{part}_same": not lines for part, lines in self.parts().items()}
        return {k: str(v).lower() for k, v in {"rerun.same": self.same, **parts}.items()}


def run(cfg: DictConfig, argv: Sequence[str], out_dir: Path | None = None) -> dict[str, Any]:
    """Rerun `cfg.rerun.id` (the command line's `argv` beside it); train.run's result with the
    verdict under "rerun"."""
    point = finding.find(cfg, argv)
    for line in point.drift + point.notes:
        print(f"rl_harness: rerun of {point.run_id}: {line}", file=sys.stderr)
    from rl_harness.training import launch  # torch, SB3 load there: after the checks

    result = launch.train_recorded(point.cfg, point.tags(), out_dir)
    verdict = judge(point, result["run_id"], Path(result["model_path"]))
    print(verdict.line())
    return {**result, "rerun": verdict}


def judge(point: finding.RerunPoint, new_id: str, model_path: Path) -> Verdict:
    """The new run against the original's record, recorded on the new run."""
    from rl_harness.tracking import runs as tracking

    client = tracking.client()
    try:
        verdict = compare(client, point, new_id, model_path)
    except Exception as e:
        client.set_tag(new_id, "rerun.error", f"{type(e).__name__}: {e}"[:5000])
        raise
    record(client, verdict)
    return verdict


def compare(client: Any, point: finding.RerunPoint, new_id: str, model_path: Path) -> Verdict:
    with tempfile.TemporaryDirectory() as tmp:
        original_model = client.download_artifacts(point.run_id, finding.MODEL, tmp)
        weights = sameness.weight_differences(Path(original_model), model_path)
    history = sameness.history_differences(
        sameness.metric_history(client, point.run_id), sameness.metric_history(client, new_id)
    )
    final = sameness.final_differences(
        client.get_run(point.run_id).data.metrics, client.get_run(new_id).data.metrics
    )
    return Verdict(
        point.run_id, new_id, weights, history, final, point.drift, point.notes, point.overrides
    )


def record(client: Any, verdict: Verdict) -> None:
    for key, value in verdict.tags().items():
        client.set_tag(verdict.rerun, key, value)
    client.log_text(verdict.rerun, verdict.text(), DIFFERENCES)
