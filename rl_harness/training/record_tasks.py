"""The recording tasks of a training run, and the helper process that runs them.

The tracking layer records params, metrics and files; what else a run records is owned here
and handed to the recorder as a table (`TASKS`). The helper process that records a run in the
background is this module (`python -m rl_harness.training.record_tasks`), so it has the same
table without the tracking layer importing anything above it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from rl_harness.tracking import background
from rl_harness.tracking.recorder import Recorder, Tasks


def policy_model(
    recorder: Recorder, model_path: str, stats_path: str | None, cfg: dict[str, Any]
) -> None:
    """Package the trained policy as the run's MLflow model (needs a run: skipped untracked)."""
    if recorder.run_id is None:
        return
    from omegaconf import OmegaConf

    from rl_harness.training import model_logging

    stats = Path(stats_path) if stats_path and Path(stats_path).exists() else None
    model_logging.log_policy_model(recorder.run_id, Path(model_path), stats, OmegaConf.create(cfg))


def learning_curve(recorder: Recorder, out_dir: str, title: str) -> None:
    """Draw `learning_curve.png` from the run's files (also untracked) and attach it.

    Untracked, a child process draws it: matplotlib would add ~35 MB to the peak memory of the
    training process, where this runs then (a tracked command-line run has its helper draw it)."""
    png = Path(out_dir) / "learning_curve.png"
    if recorder.run_id is None:
        child = [sys.executable, "-m", "rl_harness.common.plots", out_dir, str(png), title]
        if subprocess.run(child, check=False).returncode != 0:
            print(f"rl_harness: {png.name} not drawn (see above)", file=sys.stderr)
        return
    from rl_harness.common.plots import plot_learning_curve

    curve = plot_learning_curve(Path(out_dir), png, title=title)
    if curve is not None:
        recorder.log_artifact(curve)


def environment(
    recorder: Recorder, out_dir: str, torch_threads: int, env_id: str = "", cwd: str = ""
) -> None:
    """What the run ran on (common/provenance): the facts as tags, every installed package in
    `environment/packages.txt`, the uncommitted changes in `environment/git.diff`. Untracked,
    the files stay in the run's directory. The caller gives its torch threads: the helper
    that runs this never loads torch. With `env_id` and `cwd` (the run's working directory),
    the user's own code version too (`provenance.user_code`)."""
    from rl_harness.common import provenance

    packages, git = provenance.installed(), provenance.git_state()
    tags = provenance.facts(torch_threads, packages, git)
    if env_id:
        tags.update(provenance.user_code(env_id, Path(cwd) if cwd else None))
    recorder.set_tags(tags)
    for path in provenance.write(Path(out_dir), packages, provenance.git_diff(git)):
        recorder.log_artifact(path, provenance.ARTIFACT_DIR)


TASKS: Tasks = {
    "policy_model": policy_model,
    "learning_curve": learning_curve,
    "environment": environment,
}
HELPER = "rl_harness.training.record_tasks"  # the module a background recorder runs


def prewarm() -> None:
    """Do the one-time work of the end of the run while training is still going on (first
    calls cost ~1.5 s, repeat calls ~0.1 s). Nothing here imports torch or SB3: the helper
    records files and never loads the agent (model_logging.saved_spaces)."""
    import matplotlib.figure  # noqa: F401

    from rl_harness.training import model_logging

    model_logging.prewarm()


if __name__ == "__main__":
    background.main(TASKS, prewarm)
