"""The configuration page's table: every key of a Hydra YAML file (conf/config.yaml) with its
default and its meaning, read from the file itself, so the page cannot drift from the config.

A key's meaning is its trailing comment, where comment-only lines indented to that comment's
column continue it, or else the comment lines right above it at its own indentation. The
defaults list's entries are keys too (`defaults.algo`, `defaults.hparams`). A key without a
comment is an error: the build stops and names it, so a new key arrives with its meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

_KEY = re.compile(r"^(?P<indent> *)(?P<item>- )?(?P<key>[\w.$/{} ]+?):(?: +(?P<rest>.*))?$")


class ConfigDocError(ValueError):
    """The YAML cannot be documented as it stands (a key without a comment, an unread key)."""


@dataclass(frozen=True)
class Key:
    """One documented key: its dotted path, its default as written, its meaning."""

    path: str
    default: str
    meaning: str


def _split_comment(text: str) -> tuple[str, str, int]:
    """(value, comment, the comment's column in `text`); no comment: (value, "", -1). A `#`
    counts as a comment only after whitespace, as in YAML (`${now:%H}` keeps its characters)."""
    m = re.search(r"(^|\s)#(\s|$)", text)
    if not m:
        return text.rstrip(), "", -1
    start = m.start() + len(m.group(1))
    return text[:start].rstrip(), text[start + 1 :].strip(), start


def keys(path: Path) -> list[Key]:
    """Every key of the YAML file at `path` in file order, mappings too (their meaning is
    optional: their keys carry one), the defaults list's groups as `defaults.<group>`."""
    found: list[tuple[str, str, list[str], bool]] = []  # path, default, comment, is mapping
    stack: list[tuple[int, str]] = []  # (indent, key) of the open mappings
    column = -1  # the last key's comment column, where continuation lines start
    above: list[tuple[int, str]] = []  # comment lines right above the next key (column, text)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        value, comment, at = _split_comment(line)
        if not value.strip():  # blank or comment only
            if comment and found and at == column:
                found[-1][2].append(comment)
            elif comment:
                above.append((at, comment))
            else:
                column, above = -1, []
            continue
        m = _KEY.match(value if ":" in value else f"{value}:")  # `- _self_`
        if not m:
            raise ConfigDocError(f"{path.name}:{n}: cannot read a key in {line.strip()!r}")
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = m["key"].strip()
        if m["item"]:  # an entry of the defaults list: `- algo: ppo`, `- optional hparams: ...`
            key = key.removeprefix("optional ")
        parents = [k for _, k in stack]
        rest = (m["rest"] or "").strip()
        leading = [c for col, c in above if col == indent]
        if len(leading) != len(above):  # comments at another indentation say nothing of it
            leading = []
        comments = [comment] if comment else leading
        found.append((".".join([*parents, key]), rest, comments, not rest))
        column, above = (at if comment else -1), []
        if not rest and not m["item"]:
            stack.append((indent, key))
    _check_complete(path, [p for p, _, _, _ in found])
    missing = [p for p, _, c, mapping in found if not c and not mapping and p != "defaults._self_"]
    if missing:
        raise ConfigDocError(
            f"{path.name}: no comment saying what {', '.join(missing)} means: add one after the key"
        )
    return [Key(p, d, " ".join(c)) for p, d, c, _ in found if p != "defaults._self_"]


def _paths(node: object, prefix: str = "") -> set[str]:
    """The dotted paths of a loaded config's keys, mappings included (lists are values)."""
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out |= {f"{prefix}{k}"} | _paths(v, f"{prefix}{k}.")
    return out


def _check_complete(path: Path, read: list[str]) -> None:
    """The line reader saw exactly the keys that OmegaConf loads (the defaults list's entries
    are a list's items there)."""
    want = _paths(OmegaConf.to_container(OmegaConf.load(path), resolve=False))
    got = {p for p in read if not p.startswith("defaults.")}
    if got != want:
        diff = sorted(want ^ got)
        raise ConfigDocError(f"{path.name}: keys read by lines and by OmegaConf differ: {diff}")


def _cell(text: str) -> str:
    """`text` as it reads in a Markdown table cell: no HTML tag, emphasis or column break."""
    return "".join({"<": "&lt;", ">": "&gt;", "*": "\\*", "|": "\\|"}.get(c, c) for c in text)


def table(path: Path) -> str:
    """The Markdown table of `keys(path)`: key, default, meaning."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for k in keys(path):
        default = "`" + k.default.replace("|", "\\|") + "`" if k.default else ""
        meaning = _cell(k.meaning) or "the keys below"
        rows.append(f"| `{k.path}` | {default} | {meaning} |")
    return "\n".join(rows) + "\n"
