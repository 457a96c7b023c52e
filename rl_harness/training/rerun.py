"""`rerun=<run id>`: what training a recorded run again needs, found before anything is built.

A rerun trains the run's recorded config (`resolved_config.yaml`: what it trained, seed and
torch threads included) as a new run, so that its result can be held against the original's.
It only means something where the code and the packages that decide the numbers are the ones
the run recorded, so those are checked first (`provenance`): the commit, the dirty flag and,
for a dirty checkout, the uncommitted diff itself (`environment/git.diff`), Python and the
`version.*` packages. A difference refuses the rerun unless `rerun.allow_drift=true`, which
lists it and goes on. The machine (platform, CPU) is only noted: rerunning elsewhere is what
one wants to know about, and the verdict says whether it mattered.

Values the command line gives beside `rerun=` replace the recorded ones; one that changes what
is trained (anything but NEUTRAL) is drift too. Nothing here loads torch, SB3 or builds an env.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_harness.common import provenance
from rl_harness.errors import ConfigError
from rl_harness.tracking.store import check_server_reachable, tracking_uri
from rl_harness.training import resume

MODEL = "model/model.zip"
GIT_DIFF = f"{provenance.ARTIFACT_DIR}/git.diff"
RERUN_OF_TAG = "rerun_of"
# Settings that change how a run is shown or saved, not what it learns.
NEUTRAL = ("progress_bar", "verbose", "mlflow.", "checkpoint.", "rerun.")
# Facts of the machine, noted but not refused: the verdict tells whether they mattered.
MACHINE = (provenance.PLATFORM_TAG, provenance.CPU_TAG)
GROUPS = ("algo", "env", "hparams", "sweep", "sweep/env")


@dataclass(frozen=True)
class RerunPoint:
    """A FINISHED run to train again: its config (with the command line's values) and what
    differs from the record."""

    run_id: str
    cfg: DictConfig
    overrides: str  # the original's command-line overrides (tag hydra.overrides), for people
    drift: list[str] = field(default_factory=list)  # allowed by rerun.allow_drift
    notes: list[str] = field(default_factory=list)  # another machine: said, not refused

    def tags(self) -> dict[str, str]:
        """Tags of the new run, set when it opens."""
        tags = {RERUN_OF_TAG: self.run_id}
        if self.drift:
            tags["rerun.drift"] = "; ".join(self.drift)[:5000]
        return tags


def find(cfg: DictConfig, argv: Sequence[str]) -> RerunPoint:
    """The run `cfg.rerun.id` names, checked; `argv`: the command line's overrides, whose
    values replace the recorded ones. One-line ConfigError where it cannot be rerun."""
    run_id, allow = cfg.rerun.id, cfg.rerun.allow_drift
    if not isinstance(run_id, str) or not run_id:
        raise ConfigError(f"rerun= needs an MLflow run id, got {run_id!r}")
    if not isinstance(allow, bool):
        raise ConfigError(f"rerun.allow_drift must be true or false, got {allow!r}")
    if cfg.get("resume"):
        raise ConfigError(
            f"rerun={run_id} and resume={cfg.resume} exclude each other: a rerun trains anew"
        )
    if not cfg.mlflow.enabled:
        raise ConfigError(
            f"rerun={run_id}: a rerun is compared through its MLflow record; "
            "drop mlflow.enabled=false"
        )
    given = _given(argv)
    run, client = _finished_run(run_id)
    recorded = resume.stored_config(client, run_id, "rerun")
    drift = _config_drift(recorded, cfg, given)
    _require_model(client, run_id)
    facts = provenance.from_tags(run.data.tags)
    git = provenance.git_state()
    now = provenance.facts(git=git)
    drift += code_drift(facts, now)
    drift += _diff_drift(client, run_id, facts, now, git)
    if drift and not allow:
        raise ConfigError(
            f"rerun={run_id}: {'; '.join(drift)} (rerun.allow_drift=true reruns it anyway)"
        )
    notes = [str(d) for d in provenance.differences(facts, now, MACHINE)]
    if run.data.tags.get("resume.exact") == "false":  # resumed: its own record may not repeat
        notes.append(f"the run was resumed inexactly: {run.data.tags.get('resume.inexact')}")
    return RerunPoint(run_id, recorded, run.data.tags.get("hydra.overrides", ""), drift, notes)


def _given(argv: Sequence[str]) -> list[str]:
    """The config keys the command line sets (Hydra's and rerun's own aside); a config group
    cannot be set: it would replace the recorded config's part."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    keys = []
    for arg in argv:
        override = parser.parse_override(arg)
        key = override.key_or_group
        if key.startswith(("hydra", "rerun")) or override.is_delete():
            continue
        if key in GROUPS:
            raise ConfigError(
                f"rerun= trains the run's recorded config: '{arg}' would replace part of it "
                "(give values, e.g. torch_threads=2, with rerun.allow_drift=true)"
            )
        keys.append(key)
    return keys


def _finished_run(run_id: str) -> tuple[Any, Any]:
    """The run and a client, if the run exists, FINISHED, and trained on its own."""
    if (missing := resume.missing_sqlite_store()) is not None:
        raise ConfigError(f"rerun={run_id}: no such MLflow run in {missing} (no such store)")
    check_server_reachable()
    from rl_harness.tracking import runs as tracking

    tracking.check_store()
    run = tracking.find_run(run_id)
    if run is None or run.info.lifecycle_stage != "active":
        raise ConfigError(f"rerun={run_id}: no such MLflow run in {tracking_uri()}")
    if run.info.status != "FINISHED":
        raise ConfigError(
            f"rerun={run_id}: the run is {run.info.status}; only a FINISHED run has final "
            f"weights and a closing evaluation to compare (resume={run_id} continues it)"
        )
    if study := run.data.tags.get("optuna.study"):
        raise ConfigError(
            f"rerun={run_id}: a job of sweep study '{study}': Optuna's pruner may have ended "
            "its training early, and a rerun reports to no study; rerun single runs only"
        )
    return run, tracking.client()


def _require_model(client: Any, run_id: str) -> None:
    folder, _, name = MODEL.rpartition("/")
    if name not in {Path(f.path).name for f in client.list_artifacts(run_id, folder)}:
        raise ConfigError(
            f"rerun={run_id}: its {MODEL} is not in its artifacts: no final weights to compare"
        )


def _config_drift(recorded: DictConfig, cfg: DictConfig, given: list[str]) -> list[str]:
    """The command line's values set on the recorded config (which then says it is a rerun);
    those that change it, where they change what is learnt, as drift."""
    drift = []
    for key in given:
        value = OmegaConf.select(cfg, key)
        before = OmegaConf.select(recorded, key, default=None)
        plain = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        if plain != before and not key.startswith(NEUTRAL):
            drift.append(f"{key}: {before} recorded, {plain} given")
        OmegaConf.update(recorded, key, plain, merge=False, force_add=True)
    recorded.resume = None
    rerun = {"id": cfg.rerun.id, "allow_drift": cfg.rerun.allow_drift}
    OmegaConf.update(recorded, "rerun", rerun, merge=False, force_add=True)
    return drift


def code_drift(recorded: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """What differs of the facts that decide a run's numbers — the commit, the dirty flag,
    Python and the `version.*` packages — between a run's tags (`provenance.from_tags`) and
    this machine's (`provenance.facts`): what a rerun refuses, and what a sweep that reuses a
    finished run (tuning/reuse.py) needs equal."""
    keys = sorted(k for k in set(recorded) | set(now) if _decides(k))
    return [str(d) for d in provenance.differences(recorded, now, keys)]


def _decides(key: str) -> bool:
    """The facts a rerun must share with the run: code and the packages' versions."""
    return key.startswith(provenance.VERSION_PREFIX) or key in (
        provenance.COMMIT_TAG,
        provenance.DIRTY_TAG,
    )


def _diff_drift(
    client: Any,
    run_id: str,
    facts: dict[str, str],
    now: dict[str, str],
    git: provenance.GitState,
) -> list[str]:
    """A dirty checkout matches only with the very same uncommitted changes."""
    dirty = provenance.DIRTY_TAG
    if facts.get(dirty) != "true" or now.get(dirty) != "true":
        return []  # clean on both sides, or the dirty flag differs (said already)
    current = provenance.git_diff(git)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            recorded = Path(client.download_artifacts(run_id, GIT_DIFF, tmp)).read_text()
        except Exception:  # noqa: BLE001 - not recorded: cannot be shown the same
            return [f"{GIT_DIFF}: not recorded, so the uncommitted changes cannot be compared"]
    if recorded != current:
        return [f"{GIT_DIFF}: the checkout's uncommitted changes differ from the recorded ones"]
    return []
