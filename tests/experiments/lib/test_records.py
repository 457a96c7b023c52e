"""Every published page is rendered from a record its own script wrote (experiments/lib/records.py):
re-rendering them all (what `python -m experiments.render` does) changes nothing, and each
record's command runs a script that exists and writes that same record."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

from experiments.checks.bad_inputs import CASES
from experiments.lib import pages, records
from experiments.lib.common import RESULTS, ROOT

# Published files with no record, and why they stay (each listed here, so a new one fails).
UNCONVERTED: dict[str, str] = {}
# Figures a script draws beside its record, from that record.
FIGURES = {f"scaling_{name}.png": "scaling_full.json" for name in ("timesteps", "envs", "threads")}
FIGURES["report_custom_seeds.png"] = "report_custom_full.json"  # python -m experiments.render
# The RL Zoo gate's performance profile, drawn from its runs' records (zoo_gate/*.json) by
# experiments.gates.zoo_results.draw_profile (`python -m experiments.gates.zoo_gate --readme-only`,
# `python -m experiments.gates.zoo_import`).
FIGURES["zoo_gate_profile.png"] = "zoo_gate"


def test_every_page_is_what_its_record_renders() -> None:
    rendered = pages.every_page()  # its time: `python -m experiments.render` prints it
    assert set(pages.BLOCKS.values()) <= set(rendered) and len(rendered) > 3
    assert not (stale := pages.stale(rendered)), (
        f"pages that differ from their records (run `python -m experiments.render`): {stale}"
    )


def test_each_generated_block_is_filled_in_its_docs_page_and_none_in_readme(tmp_path: Path) -> None:
    """The blocks live in the docs pages (BLOCKS); README holds none, so it holds no figure."""
    for name, path in pages.BLOCKS.items():
        assert f"<!-- {name}:start -->" in path.read_text(), (name, path)
    assert "-->" not in (ROOT / "README.md").read_text()
    page = tmp_path / "p.md"
    text = (
        "a\n<!-- bench:start -->\n{}<!-- bench:end -->\n"
        "b <!-- bad-inputs:start -->{}<!-- bad-inputs:end -->\n"
    )
    page.write_text(text.format("old\n", 0))
    filled = pages.doc_pages({}, tmp_path, {"bench": page, "bad-inputs": page})
    want = text.format("", len(CASES))
    assert filled == {page: want}
    pages.update_docs(tmp_path, {"bench": page, "bad-inputs": page})
    assert page.read_text() == filled[page]


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


@pytest.mark.parametrize("path", records.published(), ids=lambda p: p.stem)
def test_a_records_command_is_typed_as_its_script_runs_and_that_script_writes_records(
    path: Path,
) -> None:
    """The command reruns as typed (`python -m <module> ...`, a module of this repository) and
    the module it names writes its record itself (records.write, or its own RECORD)."""
    command = records.load(path)["command"]
    assert command.startswith("python -m "), f"{path.name}: {command!r}"
    module = records.script(command)
    assert module.split(".")[0] in ("experiments", "rl_harness"), f"{path.name}: {module}"
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"no script {module}"
    source = Path(spec.origin).read_text()
    assert "records.write(" in source or "RECORD.write_text(" in source, (
        f"{module} writes no record"
    )


def test_every_published_file_has_a_record_or_says_why_not() -> None:
    found = []
    for path in sorted(RESULTS.rglob("*")):
        if path.suffix not in (".md", ".png") or path.with_suffix(".json").exists():
            continue
        name = path.relative_to(RESULTS).as_posix()
        if name in FIGURES and (RESULTS / FIGURES[name]).exists():
            continue
        if name not in UNCONVERTED:
            found.append(name)
    assert not found, f"published without a record: {found}"


def test_a_script_that_moved_keeps_its_records_command_readable(monkeypatch) -> None:
    monkeypatch.setitem(records.MOVED, "experiments.old_place", "experiments.checks.new_place")
    assert records.script("python -m experiments.old_place --x") == "experiments.checks.new_place"
    assert records.option("python -m x --out a/b.md --title T", "--out") == "a/b.md"
    with pytest.raises(ValueError, match="python -m experiments"):
        records.script("python experiments/x.py")


HEAD = {"command": "python -m x", "commit": "0" * 40, "dirty": "false", "machine": "m"}
SAMPLES = {"wall": [2.0, 2.2], "cpu": [1.0, 1.1], "trainer_mb": [300.0, 310.0],
           "largest_mb": [320.0, 330.0], "evals": ["500.00"]}  # fmt: skip
MADE_UP = {
    "experiments.benchmarks.overhead": {
        "timesteps": 1000, "rounds": 2, "load_at_end": 1.0, "fixed_cpu_s": 0.5,
        "variants": [{"group": "no eval", "kind": k, **SAMPLES} for k in (
            "plain SB3 script", "harness, tracking off", "harness, tracking on")],
    },
    "experiments.benchmarks.system_metrics": {
        "timesteps": 1000, "rounds": 2, "load_at_end": 1.0,
        "variants": {"system metrics off": SAMPLES, "system metrics on": SAMPLES},
    },
    "experiments.benchmarks.scaling": {
        "mode": "full", "minutes": 1.0,
        "settings": {"timesteps": [256, 512], "timestep_rounds": 1, "envs_steps": 512,
                     "envs_rounds": 1, "threads_steps": 512, "threads_rounds": 1},
        "times": {"timesteps": {"256": [1.0], "512": [1.5]},
                  "envs": {f"{k} n_envs={n}": [1.0] for k in ("dummy", "subproc")
                           for n in (1, 2, 4, 8)},
                  "threads": {"torch_threads=1": [1.0], "torch_threads=2": [1.1]}},
    },
    "experiments.benchmarks.sweep": {
        "trials": 2, "timesteps": 1000, "cpus": 2,
        "variants": {name: {"timesteps": 2000, "best": 500.0, "top3": 400.0, "pruned": 0,
                            "failed": 0, "trials": 2, "wall": 10.0, "per_trial": []}
                     for name in ("no pruning", "pruning (median)", "no pruning, 2 workers")},
    },
    "experiments.benchmarks.seed_threads": {
        "pair": "sac/pendulum", "steps": 800, "rounds": 1, "short": 300,
        "shipped_timesteps": 20000,
        "variants": [{"name": "1 seed, 1 thread", "seeds": 1, "threads": 1, "wall_s": [5.0],
                      "cpu_s": [5.0]}],
    },
    "experiments.benchmarks.serving": {
        "model": "models:/m@a", "workers": 1, "clients": 4, "cpus": 2, "startup_s": 3.0,
        "single_s": [0.002, 0.003], "batch_s": [0.02], "concurrent_s": [0.004],
        "concurrent_rps": 300.0, "policy_model_log_s": 0.5,
    },
    "experiments.benchmarks.qlearning": {
        "repeats": 1, "steps": 1000,
        "rows": [{"env": "Taxi-v4", "n_envs": 8, "raw_per_s": [100.0], "vecenv_per_s": [90.0],
                  "ql_per_s": [50.0]}],
    },
    "experiments.gates.plain_sb3_zoo": {
        "episodes": 2, "points": 2,
        "runs": [{"pair": "ars/pendulum", "seed": 8000, "returns": [-200.0, -300.0],
                  "curve": [-900.0, -300.0], "threshold": -292.8, "wall_s": 1.0, "cpu_s": 1.0}],
    },
    "experiments.checks.soak_fast_suite": {
        "cpus": 2,
        "runs": [{"green": True, "seconds": 200.0, "load": 3.0, "summary": "5 passed",
                  "failures": []}],
    },
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(MADE_UP))
def test_each_script_renders_its_page_from_a_record_alone(module: str) -> None:
    page = importlib.import_module(module).render({**HEAD, **MADE_UP[module]})
    assert page.startswith("#") and "`python -m x`" in page
