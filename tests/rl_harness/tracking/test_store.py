"""Where runs are recorded (rl_harness/tracking/store.py): store paths and a store's first open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rl_harness.tracking.store import sqlite_path

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("sqlite:///mlflow.db", Path("mlflow.db")),
        ("sqlite:////tmp/runs/mlflow.db", Path("/tmp/runs/mlflow.db")),
        ("sqlite:///sub/m.db?timeout=30", Path("sub/m.db")),
        ("sqlite:///:memory:", None),
        ("http://127.0.0.1:5000", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_sqlite_path_names_the_file_of_a_sqlite_uri_only(uri: str, path: Path | None) -> None:
    assert sqlite_path(uri) == path


@pytest.mark.slow  # four processes importing MLflow: ~10 s of CPU
def test_processes_opening_a_fresh_sqlite_store_at_once_all_get_a_working_store(
    tmp_path: Path,
) -> None:
    # MLflow creates the tables on first open; without the lock, concurrent first opens left
    # the store half-migrated ("table _alembic_tmp_tags already exists") for every later run.
    opener = (  # imports first, then all open together once the test says go
        "import sys; from rl_harness.tracking import runs\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "runs.client().create_experiment(f'opener-{sys.argv[1]}')"
    )
    fresh = tmp_path / "fresh"  # not the test's own store, which is set up already
    fresh.mkdir()
    env = {"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db", "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", opener, str(i)],
            cwd=fresh,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 4  # type: ignore[union-attr]
    for p in procs:  # go: each blocks reading its stdin until then
        p.stdin.write("go\n")  # type: ignore[union-attr]
        p.stdin.flush()  # type: ignore[union-attr]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-500:] for _, err in outputs]
    from mlflow import MlflowClient

    names = {e.name for e in MlflowClient(f"sqlite:///{fresh}/mlflow.db").search_experiments()}
    assert {f"opener-{i}" for i in range(4)} <= names
