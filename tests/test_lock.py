"""The committed lock (requirements/lock.txt, `make lock`) agrees with pyproject.toml: it was
made from the dependency specification that pyproject.toml has now, it pins every direct
dependency (the `dev` and `docs` extras' too) at a version the specifier allows, on each
supported Python and platform exactly once, and it holds none of the packages only torch's CUDA
build needs."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lock", ROOT / "requirements" / "lock.py")
assert _spec is not None and _spec.loader is not None
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)

PYTHONS = ["3.11", "3.12", "3.13"]
PLATFORMS = {  # (sys_platform, platform_system, platform_machine, os_name)
    "linux-x86_64": ("linux", "Linux", "x86_64", "posix"),
    "linux-aarch64": ("linux", "Linux", "aarch64", "posix"),
    "macos-arm64": ("darwin", "Darwin", "arm64", "posix"),
    "windows-amd64": ("win32", "Windows", "AMD64", "nt"),
}


def environment(python: str, platform: str) -> dict[str, str]:
    sys_platform, system, machine, os_name = PLATFORMS[platform]
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": sys_platform,
        "platform_system": system,
        "platform_machine": machine,
        "os_name": os_name,
        "platform_release": "",
        "platform_version": "",
        "implementation_version": f"{python}.0",
        "extra": "",
    }


def pins(lock_text: str) -> list[tuple[str, Version, Marker | None]]:
    """The lock's requirement lines as (name, exact version, marker or None)."""
    out = []
    for line in lock_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        req = Requirement(line)
        spec = list(req.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"not an exact pin: {line!r}"
        out.append((canonicalize_name(req.name), Version(spec[0].version), req.marker))
    return out


def problems(pyproject_text: str, lock_text: str) -> list[str]:
    """Every way the lock disagrees with pyproject.toml; empty when they agree."""
    found = []
    want = lock.spec_hash(pyproject_text)
    if (got := lock.recorded_hash(lock_text)) != want:
        found.append(f"dependency specification changed ({got} in the lock, {want} now)")
    project = tomllib.loads(pyproject_text)["project"]
    direct = [Requirement(r) for r in project["dependencies"]]
    for extra in ("dev", "docs"):
        direct += [Requirement(r) for r in project["optional-dependencies"][extra]]
    pinned = pins(lock_text)
    for python in PYTHONS:
        for platform in PLATFORMS:
            env = environment(python, platform)
            chosen: dict[str, list[Version]] = {}
            for name, version, marker in pinned:
                if marker is None or marker.evaluate(env):
                    chosen.setdefault(name, []).append(version)
            where = f"Python {python}, {platform}"
            for name, versions in chosen.items():
                if len(versions) > 1:
                    found.append(f"{name}: {len(versions)} pins on {where}")
            for req in direct:
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                versions = chosen.get(canonicalize_name(req.name))
                if not versions:
                    found.append(f"{req.name}: not in the lock on {where}")
                elif not req.specifier.contains(versions[0], prereleases=True):
                    found.append(f"{req.name}=={versions[0]} is outside {req.specifier} ({where})")
    return found


PYPROJECT_TEXT = lock.PYPROJECT.read_text()
LOCK_TEXT = lock.LOCK.read_text()


def test_lock_agrees_with_pyproject() -> None:
    found = problems(PYPROJECT_TEXT, LOCK_TEXT)
    assert not found, "requirements/lock.txt disagrees with pyproject.toml (`make lock`):\n" + (
        "\n".join(dict.fromkeys(re.sub(r" \(?(on )?Python 3.*", "", p) for p in found))
    )


def test_only_comments_and_layout_leave_the_hash_alone() -> None:
    text = PYPROJECT_TEXT.replace('"numpy>=1.26",', '# a new comment\n    "numpy>=1.26" ,\n')
    assert text != PYPROJECT_TEXT
    assert lock.spec_hash(text) == lock.spec_hash(PYPROJECT_TEXT)


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        # a bound the pinned scipy does not meet: the hash and the specifier both tell
        ('"scipy>=1.15"', '"scipy>=99"', [r"specification changed", r"scipy==.* outside >=99"]),
        # a new dependency the lock lacks, on every Python and platform
        ('"psutil>=5.9",', '"psutil>=5.9", "wheel-of-cheese>=1",', [r"wheel-of-cheese: not in"]),
        # a dev tool too
        ('"ruff>=0.6",', '"ruff>=0.6", "black>=24",', [r"black: not in the lock"]),
        # and the docs site's
        ('"mkdocs>=1.6,<2",', '"mkdocs>=1.6,<2", "mike>=2",', [r"mike: not in the lock"]),
        # requires-python alone
        ('requires-python = ">=3.11,<3.14"', 'requires-python = ">=3.11,<3.15"', []),
    ],
)
def test_a_changed_pyproject_is_detected(old: str, new: str, expect: list[str]) -> None:
    assert old in PYPROJECT_TEXT
    found = problems(PYPROJECT_TEXT.replace(old, new), LOCK_TEXT)
    assert any("specification changed" in p for p in found), found
    for pattern in expect:
        assert any(re.search(pattern, p) for p in found), (pattern, found)


def test_a_lock_with_two_pins_for_one_python_or_none_is_detected() -> None:
    doubled = LOCK_TEXT.replace("\nnumpy==", "\nnumpy==1.26.0\nnumpy==", 1)
    assert any("numpy: 2 pins on Python 3.11" in p for p in problems(PYPROJECT_TEXT, doubled))
    dropped = re.sub(r"\nmlflow==[^\n]*", "", LOCK_TEXT)
    assert any("mlflow: not in the lock" in p for p in problems(PYPROJECT_TEXT, dropped))


def test_no_cuda_only_packages_and_torch_pinned_as_the_makefile_installs_it() -> None:
    names = {name for name, _, _ in pins(LOCK_TEXT)}
    assert not {n for n in names if lock.CUDA_ONLY.match(n)}
    makefile = (ROOT / "Makefile").read_text()
    torch = re.search(r"^TORCH := torch==(\S+)$", makefile, re.M)
    assert torch is not None
    assert [v for n, v, _ in pins(LOCK_TEXT) if n == "torch"] == [Version(torch.group(1))]
