"""The package's layers import one way only (rl_harness/__init__.py draws them).

Every import counts, also one inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first. A module may import its own package and anything in a lower layer; packages
# that share a layer do not import each other.
LAYERS: list[list[str]] = [
    ["rl_harness.errors"],
    ["rl_harness.common"],
    ["rl_harness.config"],
    ["rl_harness.agents"],
    ["rl_harness.build"],
    ["rl_harness.tracking"],
    ["rl_harness.training"],
    ["rl_harness.analysis", "rl_harness.tuning", "rl_harness.deploy"],
    [
        "rl_harness.__main__",
        "rl_harness.evaluate",
        "rl_harness.compare",
        "rl_harness.runs",
        "rl_harness.serving",
        "rl_harness.export",
        "rl_harness.qlearning",
        "rl_harness.api",
        "rl_harness.cluster",
        "rl_harness",
        "hydra_plugins",
    ],
]
# Modules that may import MLflow: the rest of the harness must stay fast to import.
MLFLOW_ALLOWED = (
    "rl_harness.tracking.runs",
    "rl_harness.training.model_logging",
    "rl_harness.deploy",
    "rl_harness.common.compat",
    "rl_harness.analysis",
    "hydra_plugins",
)


def modules() -> dict[str, Path]:
    found = {}
    for top in ("rl_harness", "hydra_plugins"):
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def unit(module: str) -> tuple[int, str]:
    """(layer index, the layer entry the module belongs to): the longest matching entry."""
    best = None
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            if module == entry or module.startswith(entry + "."):
                if best is None or len(entry) > len(best[1]):
                    best = (i, entry)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def test_every_module_has_a_layer() -> None:
    names = modules()
    assert "rl_harness.training.train" in names and len(names) > 40
    for name in names:
        assert 0 <= unit(name)[0] < len(LAYERS)


def test_imports_point_down_only() -> None:
    known = modules()
    bad = []
    for name, path in known.items():
        layer, entry = unit(name)
        for target in imports(path):
            if target not in known:
                continue  # a third-party module, or `from package import name` of a non-module
            t_layer, t_entry = unit(target)
            sibling = t_layer == layer and t_entry != entry and layer < len(LAYERS) - 1
            if t_layer > layer or sibling:
                bad.append(f"{name} imports {target}")
    assert not bad, "imports against the layers:\n" + "\n".join(sorted(bad))


def test_no_import_cycle() -> None:
    known = modules()
    graph = {n: {t for t in imports(p) if t in known and t != n} for n, p in known.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def test_mlflow_is_imported_only_where_allowed() -> None:
    bad = [
        name
        for name, path in modules().items()
        if any(t == "mlflow" or t.startswith("mlflow.") for t in imports(path))
        and not name.startswith(MLFLOW_ALLOWED)
    ]
    assert not bad, f"modules importing MLflow outside {MLFLOW_ALLOWED}: {bad}"


# Modules a package must not import even where the layers allow it: training.train is the
# training path (torch, SB3), not a utility belt; what the layers above need from it lives in
# torch-free modules (config.runtime, build.optimum, training.launch, training.closing).
FORBIDDEN = {"rl_harness.analysis": ("rl_harness.training.train",)}


def forbidden(name: str, path: Path) -> list[str]:
    """What `name` (at `path`) imports against FORBIDDEN (lazy imports too)."""
    inside = [ts for p, ts in FORBIDDEN.items() if name == p or name.startswith(p + ".")]
    targets = {t for ts in inside for t in ts}
    return sorted(t for t in imports(path) if t in targets)


def test_analysis_never_imports_the_training_path(tmp_path: Path) -> None:
    bad = [f"{n} imports {t}" for n, path in modules().items() for t in forbidden(n, path)]
    assert not bad, "\n".join(bad)
    probe = tmp_path / "probe.py"  # the check can fail: a lazy import is caught too
    probe.write_text("def f():\n    from rl_harness.training import train\n")
    assert forbidden("rl_harness.analysis.probe", probe) == ["rl_harness.training.train"]


# The commands that only read the store: importing them loads neither torch nor SB3 (compare
# started ~3 s slower with them: experiments/benchmarks/compare_startup.py).
TORCH_FREE = ("rl_harness.compare", "rl_harness.analysis.compare")
HEAVY = ("torch", "stable_baselines3", "sb3_contrib")


def test_compare_loads_no_torch_nor_sb3() -> None:
    probe = (
        f"import sys; import {', '.join(TORCH_FREE)}; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", f"{TORCH_FREE} load {out.stdout.strip()}"


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    # The check itself must be able to fail: a tracking module importing training is caught.
    probe = tmp_path / "probe.py"
    probe.write_text("from rl_harness.training import train\n")
    layer, _ = unit("rl_harness.tracking.probe")
    assert any(unit(t)[0] > layer for t in imports(probe) if t in modules())


# Benchmarks stand on their own (they are run as scripts, in CI and by hand); only the tests of
# the benchmarks import them.


def imported_from(path: Path, top: str) -> list[str]:
    """The modules under package `top` that a file imports (from-imports by their module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found.update(n for n in names if n == top or n.startswith(top + "."))
    return sorted(found)


def test_benchmarks_and_tests_keep_apart() -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / "experiments").rglob("*.py"))
        for module in imported_from(path, "tests")
    ] + [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if ROOT / "tests/experiments" not in path.parents
        for module in imported_from(path, "experiments")
    ]
    assert not bad, "\n".join(bad)


# The Hydra sweeper is a thin adapter (as Hydra's own Optuna sweeper is): its options, `setup`
# and `sweep`, and one lazy import of the scheduler, which is tested without Hydra.
SCHEDULER = ("scheduler", "asktell", "race", "locks", "workers", "report", "state")


def test_the_sweeper_plugin_is_a_thin_adapter_over_a_scheduler_without_hydra() -> None:
    plugin = ROOT / "hydra_plugins" / "rl_harness_sweeper" / "optuna_rl_sweeper.py"
    assert len(plugin.read_text().splitlines()) <= 150
    harness = sorted(t for t in imports(plugin) if t.startswith("rl_harness."))
    assert harness == [
        "rl_harness.common",
        "rl_harness.common.seeds",  # the validation block's start, a default of its options
        "rl_harness.tuning.scheduler",
        "rl_harness.tuning.scheduler.main",
    ]
    with_hydra = [
        name
        for name in SCHEDULER
        for t in imports(ROOT / "rl_harness" / "tuning" / f"{name}.py")
        if t == "hydra" or t.startswith("hydra.")
    ]
    assert not with_hydra, f"scheduler modules importing Hydra: {with_hydra}"
