"""Records: every published result is a JSON record its own script wrote, and its Markdown is
rendered from that record by code, through one path.

    header(command)      what produced a result: the exact command, the commit (and whether the
                         checkout had changes), the key package versions, the machine, the time
    write(record, path)  the record (`<path>.json`) and its page (`<path>.md`, rendered from it)
    render(record)       the page: the `render(record)` of the script the command names
    script(command)      that script's module, for a command typed as `python -m <module> ...`

A record carries, beside its header, every per-seed value and the hash of every config file
involved (`config_hash`); the page adds nothing that is not in the record, so
`python -m experiments.render` rebuilds every page from the records alone, and
tests/experiments/lib/test_records.py checks that the committed pages are exactly what it renders.
Commentary lives in README and the docs, never in a generated file.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import platform
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments.lib.common import RESULTS, ROOT

# Scripts moved since a record was written: its command stays as it was typed, and its module is
# found here (the script's new place renders it and writes the same path).
MOVED: dict[str, str] = {}  # every record's command names its script's place today


def header(command: str) -> dict[str, Any]:
    """The record's provenance: command, commit, dirty, versions, machine, created (UTC)."""
    import os

    from rl_harness.common import provenance

    facts = provenance.facts()
    prefix = provenance.VERSION_PREFIX
    return {
        "command": command,
        "commit": facts.get(provenance.COMMIT_TAG, "unknown"),
        "dirty": facts.get(provenance.DIRTY_TAG, "unknown"),
        "machine": f"{facts[provenance.CPU_TAG]}, {os.cpu_count()} cores, "
        f"{facts[provenance.PLATFORM_TAG]}",
        "load_at_start": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "versions": {
            k.removeprefix(prefix): v
            for k, v in facts.items()
            if k.startswith(prefix) or k == provenance.PYTHON_TAG
        },
        "created": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "python": platform.python_version(),
    }


def config_hash(path: Path) -> str:
    """sha256 of a config file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def script(command: str) -> str:
    """The module a record's command runs (`python -m experiments.x.y ...` → experiments.x.y)."""
    words = shlex.split(command)
    if "-m" not in words or words.index("-m") + 1 >= len(words):
        raise ValueError(f"{command!r}: a record's command runs `python -m experiments.<...>`")
    module = words[words.index("-m") + 1]
    return MOVED.get(module, module)


def option(command: str, name: str) -> str | None:
    """The value of `--name VALUE` in a command, if it has one."""
    words = shlex.split(command)
    return words[words.index(name) + 1] if name in words[:-1] else None


def render(record: dict[str, Any]) -> str:
    """The page of a record: the `render(record)` of the script that wrote it."""
    return importlib.import_module(script(record["command"])).render(record)


def provenance_line(record: dict[str, Any]) -> str:
    """One line from a record's header, for its page."""
    dirty = "+dirty" if str(record.get("dirty")) == "true" else ""
    when = f" {record['created']}" if record.get("created") else ""
    load = record.get("load_at_start")
    loaded = f", load average at start {load}" if load is not None else ""
    return (
        f"_Generated{when} by `{record['command']}` at commit {str(record['commit'])[:7]}{dirty} "
        f"on {record.get('machine', 'an unrecorded machine')}{loaded}._"
    )


def write(record: dict[str, Any], path: Path) -> str:
    """`path` with .json (the record) and .md (its page, rendered from the record read back, so
    what is published is what a re-render gives). Returns the page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_suffix(".json")
    target.write_text(json.dumps(record, indent=1) + "\n")
    text = render(json.loads(target.read_text()))
    path.with_suffix(".md").write_text(text)
    return text


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.with_suffix(".json").read_text())


def published(results: Path = RESULTS) -> list[Path]:
    """Every record under experiments/results/ (a page's source)."""
    return sorted(results.rglob("*.json"))


def shown(path: Path) -> str:
    """A path as typed from the repository's root, where it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)
