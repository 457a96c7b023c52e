"""Every published page is rendered from a record its own script wrote (experiments/lib/records.py):
re-rendering them all (what `python -m experiments.render` does) changes nothing, and each
record's command runs a script that exists and writes that same record."""

from __future__ import annotations

import importlib
import importlib.util
import time
from pathlib import Path

import pytest

from experiments.lib import pages, records
from experiments.lib.common import RESULTS, ROOT

# Published files with no record, and why they stay (each listed here, so a new one fails).
UNCONVERTED = {
    "zoo_gate_profile.png": "drawn from the gate's run pages by "
    "`python -m experiments.gates.zoo_gate --readme-only`",
}
# The RL Zoo gate's runs before it wrote records: their pages are the only copy of their
# per-seed values (each run's store stayed on its machine); README's gate block merges them.
GATE_RUNS_WITHOUT_RECORD = {"zoo-gate-20261203", "zoo-gate-20261204", "zoo-gate-20261205"}


def test_every_page_is_what_its_record_renders() -> None:
    start = time.perf_counter()
    rendered = pages.every_page()
    took = time.perf_counter() - start
    assert pages.README in rendered and len(rendered) > 3
    assert not (stale := pages.stale(rendered)), (
        f"pages that differ from their records (run `python -m experiments.render`): {stale}"
    )
    assert took < 60, f"re-rendering took {took:.0f} s"


@pytest.mark.parametrize("path", records.published(), ids=lambda p: p.stem)
def test_a_records_command_runs_the_script_that_writes_it(path: Path) -> None:
    record = records.load(path)
    module_name = records.script(record["command"])
    assert importlib.util.find_spec(module_name) is not None, f"no script {module_name}"
    module = importlib.import_module(module_name)
    assert callable(getattr(module, "render", None)), f"{module_name} renders no record"
    out = records.option(record["command"], "--out")
    if out is not None:
        written = (ROOT / out).with_suffix(".json")
    elif hasattr(module, "record_path"):
        written = module.record_path(record)
    else:
        written = module.RECORD
    assert written.resolve() == path.resolve(), f"{module_name} writes {written}, not {path}"
    for key in ("command", "commit", "machine"):
        assert record.get(key), f"{path.name} has no {key}"


def test_every_published_file_has_a_record_or_says_why_not() -> None:
    found = []
    for path in sorted(RESULTS.rglob("*")):
        if path.suffix not in (".md", ".png") or path.with_suffix(".json").exists():
            continue
        name = path.relative_to(RESULTS).as_posix()
        gate_run = path.parent.name == "zoo_gate" and path.stem in GATE_RUNS_WITHOUT_RECORD
        if name not in UNCONVERTED and not gate_run:
            found.append(name)
    assert not found, f"published without a record: {found}"


def test_a_script_that_moved_keeps_its_records_command_readable() -> None:
    assert records.script("python -m experiments.resume_exactness") == (
        "experiments.checks.resume_exactness"
    )
    assert records.option("python -m x --out a/b.md --title T", "--out") == "a/b.md"
    with pytest.raises(ValueError, match="python -m experiments"):
        records.script("python experiments/x.py")
