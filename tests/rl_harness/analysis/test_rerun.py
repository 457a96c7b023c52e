"""`rerun=<run id>`: a recorded run trained again comes out the same, a drifted record is refused
(or allowed and listed), and the verdict can say "different"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient

from rl_harness import api
from rl_harness.common import provenance
from rl_harness.config import commands
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking
from rl_harness.training import rerun as finding
from rl_harness.training import train
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[3]
TINY = [
    "algo=ppo",
    "env=cartpole",
    "n_timesteps=2000",
    "eval.freq=1000",
    "eval.episodes=2",
    "eval.final.episodes=4",
    "eval.final.n_envs=4",
    "checkpoint.freq=0",
    "mlflow.system_metrics=false",
]


def client() -> MlflowClient:
    return MlflowClient(tracking.tracking_uri())


def run_ids() -> set[str]:
    experiments = [e.experiment_id for e in client().search_experiments()]
    return {r.info.run_id for r in client().search_runs(experiments)}


def original(tmp_path: Path) -> str:
    """A tiny PPO CartPole run with evaluations, recorded as the CLI records one."""
    return train.run(compose_config(TINY), out_dir=tmp_path / "original")["run_id"]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rl_harness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def refused(cwd: Path, *args: str) -> str:
    """The one line of a rerun refused with exit code 2, having recorded nothing."""
    before = run_ids()
    proc = cli(cwd, *args)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rl_harness: error: rerun="), proc.stderr
    assert run_ids() == before
    return lines[0]


def rerun_of(run_id: str) -> tuple[str, dict[str, str]]:
    """The one run tagged rerun_of=`run_id`: its id and tags."""
    found = [r for r in map(client().get_run, run_ids()) if r.data.tags.get("rerun_of") == run_id]
    assert len(found) == 1 and found[0].info.status == "FINISHED"
    return found[0].info.run_id, found[0].data.tags


def differences_file(run_id: str, tmp_path: Path) -> str:
    return Path(
        client().download_artifacts(run_id, "rerun/differences.txt", str(tmp_path))
    ).read_text()


def test_rerun_is_short_for_rerun_id_and_stays_a_string() -> None:
    assert commands.checked_argv("config", ["rerun=0123e5"]) == ["rerun.id='0123e5'"]
    cfg = commands.compose("config", commands.checked_argv("config", ["rerun=0123"]))
    assert cfg.rerun.id == "0123" and cfg.rerun.allow_drift is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rerun=abc", "resume=def"], "exclude each other"),
        (["rerun=abc", "algo=dqn"], "would replace part of it"),
        (["rerun=abc", "mlflow.enabled=false"], "mlflow.enabled=false"),
        (["rerun=abc", "rerun.allow_drift=1"], "rerun.allow_drift must be true or false"),
    ],
)
def test_what_cannot_go_with_a_rerun_fails_before_the_store_is_read(
    args: list[str], message: str
) -> None:
    argv = commands.checked_argv("config", args)
    with pytest.raises(ConfigError, match=message):
        finding.find(commands.compose("config", argv), argv)


def test_a_rerun_comes_out_the_same(tmp_path: Path) -> None:
    first = original(tmp_path)
    proc = cli(tmp_path, f"rerun={first}", "progress_bar=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    second, tags = rerun_of(first)
    verdict = proc.stdout.strip().splitlines()[-1]
    assert verdict == (
        f"rerun {second} of {first}: SAME weights, metric history and closing evaluation"
    )
    assert tags["rerun.same"] == "true" and "rerun.drift" not in tags
    assert {tags[f"rerun.{p}_same"] for p in ("weights", "history", "final")} == {"true"}
    assert tags["rl_harness.output_dir"] != str(tmp_path / "original")  # a fresh directory
    text = differences_file(second, tmp_path)
    assert text.startswith(f"rerun {second} of {first}: same\n") and "## weights: none" in text


def test_a_drifted_record_is_refused_unless_allowed_then_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = original(tmp_path)
    client().set_tag(first, "version.torch", "0.0.1")
    line = refused(tmp_path, f"rerun={first}")
    assert "version.torch: 0.0.1 recorded" in line and "rerun.allow_drift=true" in line
    got = api.rerun(first, allow_drift=True)
    assert f"rl_harness: rerun of {first}: version.torch: 0.0.1 recorded" in capsys.readouterr().err
    assert got["drift"][0].startswith("version.torch: 0.0.1 recorded")
    assert got["same"] is True  # the record's tag was wrong, not the versions
    second, tags = rerun_of(first)
    assert tags["rerun.drift"].startswith("version.torch: 0.0.1 recorded")
    assert "version.torch: 0.0.1 recorded" in differences_file(second, tmp_path)


def find(*args: str) -> finding.RerunPoint:
    """`training.rerun.find` as the CLI calls it, in this process; records nothing."""
    before = run_ids()
    argv = commands.checked_argv("config", list(args))
    try:
        return finding.find(commands.compose("config", argv), argv)
    finally:
        assert run_ids() == before


def test_a_record_that_cannot_be_rerun_is_refused(tmp_path: Path) -> None:
    first = original(tmp_path)
    assert "no such MLflow run" in refused(tmp_path, "rerun=0123456789abcdef0123456789abcdef")
    assert find(f"rerun={first}").cfg.rerun.id == first  # as recorded: it can be
    client().set_tag(first, "optuna.study", "demo")
    with pytest.raises(ConfigError, match="sweep study 'demo'"):
        find(f"rerun={first}")
    client().delete_tag(first, "optuna.study")
    with pytest.raises(ConfigError, match="torch_threads: 1 recorded, 2 given"):
        find(f"rerun={first}", "torch_threads=2")
    artifacts = Path(urlparse(client().get_run(first).info.artifact_uri).path)
    (artifacts / "model/model.zip").unlink()
    with pytest.raises(ConfigError, match="model/model.zip is not in its artifacts"):
        find(f"rerun={first}")
    (artifacts / "resolved_config.yaml").unlink()
    with pytest.raises(ConfigError, match="resolved_config.yaml is not in its artifacts"):
        find(f"rerun={first}")


def test_the_verdict_can_say_different(tmp_path: Path) -> None:
    """The check can fail: the original's closing evaluation tampered with (the API's rerun)."""
    first = original(tmp_path)
    run = client().get_run(first)
    step = client().get_metric_history(first, "final/mean_reward")[0].step
    client().log_metric(
        first, "final/mean_reward", run.data.metrics["final/mean_reward"] + 1, step=step
    )
    got = api.rerun(first)
    assert got["rerun_of"] == first and got["same"] is False and got["drift"] == []
    assert got["differences"]["weights"] == []
    assert got["differences"]["final"][0].startswith("final/mean_reward: ")
    assert got["differences"]["history"][0].startswith("final/mean_reward: ")
    second = got["result"].run_id
    tags = client().get_run(second).data.tags
    assert tags["rerun.same"] == "false" and tags["rerun.final_same"] == "false"
    assert tags["rerun.weights_same"] == "true"
    assert "## closing evaluation: 1\nfinal/mean_reward: " in differences_file(second, tmp_path)


class RecordedDiff:
    """A client whose run recorded `text` as environment/git.diff (None: no such artifact)."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def download_artifacts(self, run_id: str, path: str, dst: str) -> str:
        if self.text is None:
            raise OSError(f"no {path}")
        out = Path(dst) / "git.diff"
        out.write_text(self.text)
        return str(out)


def test_a_dirty_checkout_matches_only_with_the_same_uncommitted_changes() -> None:
    git = provenance.GitState("0" * 40, True, ("new_file.py",))
    now = provenance.git_diff(git)
    dirty = {"git.dirty": "true"}
    assert finding._diff_drift(RecordedDiff(now), "r", dirty, dirty, git) == []
    changed = finding._diff_drift(RecordedDiff(now + "+x\n"), "r", dirty, dirty, git)
    assert len(changed) == 1 and changed[0].startswith(f"{finding.GIT_DIFF}: the checkout's")
    assert "not recorded" in finding._diff_drift(RecordedDiff(None), "r", dirty, dirty, git)[0]
    clean = {"git.dirty": "false"}
    assert finding._diff_drift(RecordedDiff(None), "r", clean, clean, git) == []
