"""`make bench` is a quick look: its commands (read with `make -n`, nothing runs) write only
where git ignores, never README's block, and pass every output option of the scripts they call,
whose defaults are the tracked experiments/results/. So `make test` stays green after it and the
published results change only with `make bench-full`."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_OPTIONS = ("--out", "--out-dir", "--results")  # what the scripts write, when given
DIRECTORY_OPTIONS = ("--out-dir",)
REDIRECT = re.compile(r"(?<![\d&<>])>>?\s*([^\s;|&()]+)")

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / ".git").exists(), reason="needs make and git"
)


def make_n(*args: str) -> list[str]:
    """The recipe's shell commands, continuation lines joined."""
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.replace("\\\n", " ").splitlines() if line.strip()]


def _script(tokens: list[str]) -> Path | None:
    """The experiments script a command runs (`experiments/x.py` or `-m experiments.x`)."""
    for i, t in enumerate(tokens):
        if t.startswith("experiments/") and t.endswith(".py"):
            return ROOT / t
        if t == "-m" and i + 1 < len(tokens) and tokens[i + 1].startswith("experiments."):
            return ROOT / (tokens[i + 1].replace(".", "/") + ".py")
    return None


def _ignored(path: str) -> bool:
    check = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    return check.returncode == 0


def problems(commands: list[str]) -> list[str]:
    """What in `commands` would write README or a path git tracks or does not ignore."""
    found = []
    for command in commands:
        tokens = shlex.split(command.replace(";", " ; ").replace("{", " ").replace("}", " "))
        if "--readme" in tokens:
            found.append(f"refreshes README's block: {command}")
        targets = REDIRECT.findall(command)
        for i, t in enumerate(tokens[:-1]):
            if t in OUTPUT_OPTIONS:
                targets.append(tokens[i + 1] + ("/" if t in DIRECTORY_OPTIONS else ""))
        if tokens[:2] == ["mkdir", "-p"]:
            targets += [d.rstrip("/") + "/" for d in tokens[2:]]
        found += [f"writes {t}, which git does not ignore" for t in targets if not _ignored(t)]
        if (script := _script(tokens)) is not None:
            source = script.read_text()
            for option in OUTPUT_OPTIONS:
                if f'"{option}"' in source and option not in tokens:
                    found.append(f"{script.stem} without {option} writes its default file")
    return found


def test_make_bench_writes_only_where_git_ignores() -> None:
    commands = make_n("bench")
    assert any("experiments.benchmarks.matrix" in c for c in commands)  # the recipe was read
    assert problems(commands) == []


def test_the_check_catches_tracked_outputs_and_readme() -> None:
    into_results = problems(make_n("bench", "QUICK=experiments/results"))
    assert any("experiments/results/overhead_quick.json" in p for p in into_results)
    assert any("experiments/results/scaling_quick.json" in p for p in into_results)
    old = [
        "python -m experiments.benchmarks.matrix --quick --readme",
        "python -m experiments.benchmarks.scaling --quick --results .bench-quick/s.md",
        "{ echo x; python -m experiments.benchmarks.overhead; } > README.md",
    ]
    assert problems(old) == [
        f"refreshes README's block: {old[0]}",
        "matrix without --out writes its default file",
        "scaling without --out writes its default file",
        "writes README.md, which git does not ignore",
        "overhead without --out writes its default file",
    ]
