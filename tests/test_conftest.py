"""The shared test machinery's own promises: a run that skipped PostgreSQL tests says so."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests import conftest


def skipped(reason: str) -> SimpleNamespace:
    """A skipped test's report, as pytest's terminal reporter keeps it."""
    return SimpleNamespace(longrepr=("tests/x.py", 1, f"Skipped: {reason}"))


def test_skips_for_want_of_postgresql_are_counted_with_their_fix() -> None:
    pg = f"{conftest.NO_POSTGRES}: set RL_HARNESS_TEST_PG_URL"
    reports = [skipped(pg), skipped("no SLURM node up"), skipped(pg)]
    lines = conftest.postgres_skips(reports)  # type: ignore[arg-type]
    assert lines[0].startswith("2 PostgreSQL tests SKIPPED")
    assert lines[1:] == [f"  2 x {pg}"]
    assert conftest.postgres_skips(reports[1:2]) == []  # type: ignore[arg-type]


def test_the_summary_hook_is_registered(pytestconfig: pytest.Config) -> None:
    hooks = pytestconfig.pluginmanager.hook.pytest_terminal_summary.get_hookimpls()
    assert conftest.pytest_terminal_summary in [h.function for h in hooks]
