"""Cores shared among trainings at once: what the sweeper's workers and the gate's seeds get."""

from __future__ import annotations

import pytest

from rl_harness.common import processes


@pytest.mark.parametrize(("cores", "at_once", "each"), [(8, 2, 4), (8, 3, 2), (2, 1, 2), (2, 4, 1)])
def test_each_training_gets_its_share_of_the_cores_this_process_may_use(
    monkeypatch: pytest.MonkeyPatch, cores: int, at_once: int, each: int
) -> None:
    monkeypatch.setattr(processes.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert processes.cores() == cores and processes.threads_each(at_once) == each
