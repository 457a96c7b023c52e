"""The bad-input matrix (experiments/bad_inputs.py owns its cases): each case in-process, where
the error is raised, and through the CLI, as a user meets it: a fresh process per malformed
input exits 2 with one line naming the problem and what is accepted, and leaves no MLflow run
RUNNING. How fast each one fails is the benchmark's to measure (python experiments/bad_inputs.py),
not the tests'."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from experiments import bad_inputs
from experiments.bad_inputs import CASES, CORRUPT, PREFLIGHT, VALIDATE, Case
from rl_harness.config.preflight import preflight
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking
from rl_harness.training import train
from tests.conftest import compose_config


def all_runs(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_the_matrix_has_at_least_20_distinct_inputs() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 20


@pytest.mark.parametrize(("args", "words"), PREFLIGHT, ids=lambda a: " ".join(a))
def test_preflight_rejects(args: list[str], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        preflight(args)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(("args", "words"), VALIDATE, ids=lambda a: " ".join(a))
def test_bad_config_rejected_before_training(args: list[str], words: list[str]) -> None:
    cfg = compose_config(preflight(["n_timesteps=256", *args]))
    with pytest.raises(ConfigError) as err:
        train.run(cfg)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert all_runs(tracking.tracking_uri()) == []  # nothing recorded, nothing left RUNNING


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_fails_in_one_line_through_the_cli(case: Case, tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    env = bad_inputs.cli_env(store)
    corrupt_id = bad_inputs.corrupt_run(tmp_path, env) if CORRUPT in case.name else ""
    out = bad_inputs.run_case(case, env, tmp_path, corrupt_id)
    assert out.returncode == 2, out.lines
    assert len(out.lines) == 1, out.lines
    (line,) = out.lines
    assert line.startswith("rl_harness: error: ")
    for words in case.words:
        assert words in line
    assert "Traceback" not in out.stdout
    if store.exists():
        runs = all_runs(f"sqlite:///{store}")
        assert not [r for r in runs if r.info.status == "RUNNING"]
