"""`make lock`: resolve pyproject.toml's dependencies (with the `dev` and `docs` extras) into
exact versions in requirements/lock.txt, the file that `make install` and CI install from. The
pins already in the lock are kept where they still satisfy pyproject.toml (a change there moves
only what it must); `make lock UPGRADE=1` (--upgrade) re-resolves everything to the newest
allowed versions.

One universal lock for Python 3.11, 3.12 and 3.13 on Linux, macOS and Windows: `uv pip compile
--universal` pins one version of each package, and forks a package by environment markers only
where one version cannot serve every Python (then each Python still gets exactly one pin;
tests/test_lock.py checks this).

The lock is installed with pip, not uv: pip reads its own configuration (find-links, constraints),
which is where a machine can supply torch's CPU wheel. torch is pinned (TORCH, Makefile), but the
packages that only PyPI's Linux CUDA build of torch needs (nvidia-*, cuda-*, triton) are left out
of the lock: on a machine with the CPU build, pip then installs none of them; where pip takes the
CUDA build, torch's own exact pins bring them in as before.

The first line records a hash of pyproject.toml's dependency specification (requires-python,
dependencies, optional-dependencies), so a fast test fails when the two disagree.

Run with the project's virtual environment's Python (`make lock` installs uv there).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements" / "lock.txt"
PYTHON_MIN = "3.11"  # the lowest Python of requires-python: a universal lock covers it and up
HASH_PREFIX = "# pyproject-dependencies-sha256: "
# Packages that only the CUDA build of torch needs (PyPI's Linux wheels): never in the lock.
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def spec_hash(pyproject_text: str) -> str:
    """sha256 of the dependency specification: comments and formatting do not change it."""
    project = tomllib.loads(pyproject_text)["project"]
    spec = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def recorded_hash(lock_text: str) -> str | None:
    """The hash in the lock's header line, None without one."""
    first = lock_text.splitlines()[0] if lock_text else ""
    return first[len(HASH_PREFIX) :].strip() if first.startswith(HASH_PREFIX) else None


def _compile(torch: str, no_emit: list[str], out: Path, upgrade: bool) -> str:
    """uv's lock text, written to `out`; uv keeps the pins already there that still fit (all of
    them anew with `upgrade`). The torch pin comes in on stdin: no temporary path in the text."""
    cmd = [
        sys.executable, "-m", "uv", "pip", "compile", "--quiet", "pyproject.toml", "-",
        "--extra", "dev", "--extra", "docs", "--universal", "--python-version", PYTHON_MIN,
        "--custom-compile-command", "make lock", "--output-file", str(out),
    ]  # fmt: skip
    for name in no_emit:
        cmd += ["--no-emit-package", name]
    if upgrade:
        cmd.append("--upgrade")
    subprocess.run(
        cmd, input=f"{torch}\n", stdout=subprocess.DEVNULL, text=True, check=True, cwd=ROOT
    )
    return out.read_text()


def _dependents(lock_text: str) -> dict[str, set[str]]:
    """Each pinned package's dependents, from uv's `# via` annotations."""
    via: dict[str, set[str]] = {}
    name = None
    for line in lock_text.splitlines():
        if m := _PIN.match(line):
            name = m.group(1).lower()
            via.setdefault(name, set())
        elif name and line.startswith("    #"):
            text = line.strip("# ").removeprefix("via").strip()
            if text:
                via[name].add(text.split()[0].lower())
    return via


def main() -> None:
    args = sys.argv[1:]
    upgrade = "--upgrade" in args
    torch = [a for a in args if a.startswith("torch==")]
    if len(torch) != 1 or len(args) != 1 + upgrade:
        sys.exit("usage: python requirements/lock.py torch==VERSION [--upgrade]  (`make lock`)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lock.txt"
        if LOCK.exists():
            shutil.copy(LOCK, out)  # the pins to keep
        via = _dependents(_compile(torch[0], [], out, upgrade))
        cuda = sorted(n for n in via if CUDA_ONLY.match(n))
        for name in cuda:  # left out only where nothing but torch's CUDA build asks for it
            others = {d for d in via[name] if d != "torch" and not CUDA_ONLY.match(d)}
            if others:
                sys.exit(f"lock: {name} is needed by {sorted(others)}, not only by CUDA torch")
        text = _compile(torch[0], cuda, out, upgrade=False)
    LOCK.write_text(f"{HASH_PREFIX}{spec_hash(PYPROJECT.read_text())}\n{text}")
    pins = sum(1 for line in text.splitlines() if _PIN.match(line))
    print(f"lock: {LOCK.relative_to(ROOT)}: {pins} pins; left out (CUDA torch only): {cuda}")


if __name__ == "__main__":
    main()
