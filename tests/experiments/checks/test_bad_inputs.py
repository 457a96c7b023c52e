"""The bad-input matrix (experiments/checks/bad_inputs.py owns its cases): each case in-process,
where the error is raised, and through the CLI, as a user meets it: a fresh process per malformed
input exits 2 with one line naming the problem and what is accepted, and leaves no MLflow run
RUNNING (all through the CLI in the slow suite, one of each kind in the fast one). How fast each
one fails is the benchmark's to measure (python -m experiments.checks.bad_inputs), not the
tests'."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from experiments.checks import bad_inputs
from experiments.checks.bad_inputs import CASES, CORRUPT, PREFLIGHT, VALIDATE, Case
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


# Through the CLI, the fast suite runs one case of each kind — a pre-flight one, a validation
# one, and each case that needs a real store or run — since every case of a kind takes the same
# path to its one line (each message is asserted in-process above); the slow suite runs them all.
# Each CLI case is a fresh process that imports torch and SB3: ~8 s of CPU.
_OWN_PATH = CASES[len(PREFLIGHT) + len(VALIDATE) :]
FAST = {CASES[0].name, CASES[len(PREFLIGHT)].name, *(c.name for c in _OWN_PATH)}
CLI_CASES = [
    pytest.param(c, id=c.name, marks=() if c.name in FAST else pytest.mark.slow) for c in CASES
]


def test_the_fast_suite_runs_one_cli_case_of_each_kind() -> None:
    assert len(FAST) == 2 + len(_OWN_PATH) == 6 and len(CLI_CASES) == len(CASES)


@pytest.mark.parametrize("case", CLI_CASES)
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
