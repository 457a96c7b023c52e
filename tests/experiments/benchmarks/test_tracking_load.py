"""Issue 16's load test: 16 training clients at once against one MLflow server (a local
cluster on loopback) lose no metric point and get no error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import postgres_or_skip

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_sixteen_clients_lose_no_metric_point() -> None:
    postgres_or_skip()
    cmd = [sys.executable, "-m", "experiments.benchmarks.tracking_load", "--clients", "16"]
    done = subprocess.run([*cmd, "--timesteps", "2048"], cwd=ROOT, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"(\d+) metric points expected, 0 missing, 0 runs failed, 0 ERROR", summary)
    assert found and int(found.group(1)) > 16 * 50, summary  # each run logs ~60 points
