"""The bad-input matrix through the real CLI: a fresh process per malformed input fails within
5 seconds (imports included), with exit code 2 and one line naming the problem and what is
accepted, and leaves no MLflow run RUNNING."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from experiments import bad_inputs
from experiments.bad_inputs import CASES, CORRUPT, Case


def test_the_matrix_has_at_least_20_distinct_inputs() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_fails_fast_in_one_line(case: Case, tmp_path: Path) -> None:
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
    assert out.seconds < bad_inputs.LIMIT_S, f"took {out.seconds:.1f} s"
    if store.exists():
        client = MlflowClient(f"sqlite:///{store}")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert not [r for r in runs if r.info.status == "RUNNING"]
