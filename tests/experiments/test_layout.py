"""experiments/ by purpose, read from the source (AST): a shared library (lib/), benchmarks, gates
with their plain SB3 controls, checks; each script run as `python -m experiments.<folder>.<name>`,
with no sys.path edits, no import of another module's private names, and the tracking store
reached only through rl_harness.tracking (whose client opens a SQLite store under its lock)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
FOLDERS = {"lib", "benchmarks", "gates", "checks"}
TOP = {"__init__.py", "render.py"}  # the one command at the top: re-render every page


def modules() -> dict[str, ast.AST]:
    return {
        p.relative_to(ROOT).as_posix(): ast.parse(p.read_text())
        for p in sorted(EXPERIMENTS.rglob("*.py"))
    }


def problems(trees: dict[str, ast.AST]) -> list[str]:
    found = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "path":
                if isinstance(node.value, ast.Name) and node.value.id == "sys":
                    found.append(f"{name}: edits or reads sys.path")
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("experiments"):
                    found += [f"{name}: imports {node.module}.{a.name}, a private name"
                              for a in node.names if a.name.startswith("_")]  # fmt: skip
                if node.module.split(".")[0] == "mlflow":
                    found.append(f"{name}: imports from mlflow (use rl_harness.tracking)")
            if isinstance(node, ast.Import):
                found += [f"{name}: imports {a.name} (use rl_harness.tracking)"
                          for a in node.names if a.name.split(".")[0] == "mlflow"]  # fmt: skip
    return found


def test_every_script_sits_in_a_folder_for_its_purpose() -> None:
    stray = [
        p.relative_to(EXPERIMENTS).as_posix()
        for p in EXPERIMENTS.rglob("*")
        if p.suffix in (".py", ".sh")
        and p.relative_to(EXPERIMENTS).parts[0] not in FOLDERS
        and p.name not in TOP
    ]
    assert not stray, f"put these under one of {sorted(FOLDERS)}: {stray}"
    for folder in FOLDERS:
        assert (EXPERIMENTS / folder / "__init__.py").exists(), folder


def test_no_sys_path_edit_private_import_or_bare_store_client() -> None:
    assert not (found := problems(modules())), "\n".join(found)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("import sys\nsys.path.insert(0, '.')", "sys.path"),
        ("from experiments.lib.matrix import _client", "a private name"),
        ("from mlflow import MlflowClient", "use rl_harness.tracking"),
        ("import mlflow", "use rl_harness.tracking"),
    ],
)
def test_the_check_can_fail(source: str, words: str) -> None:
    assert any(words in p for p in problems({"x.py": ast.parse(source)}))
