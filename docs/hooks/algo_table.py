"""The algorithms-and-environments page's table: every shipped hyperparameter file
(conf/hparams/<algo>_<env>.yaml) with where its values came from, read from its header comment,
and the RL Zoo reproduction gate's result for the pair where the gate has one, so the page cannot
drift from conf/ nor from the gate's result files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ZOO_MARKER = "Converted from RL Zoo"  # rl_harness/config/zoo.py's header: it rewrites the file
CHAMPION_MARKER = "Champion of Optuna study"  # rl_harness/tuning's promotion header
KINDS = ("converted", "validated tuning", "by hand")
_SENTENCE_END = re.compile(r"[.;](\s|$)")


class AlgoTableError(ValueError):
    """An hparams file the table cannot place (no algorithm of that name, no header)."""


@dataclass(frozen=True)
class Pair:
    """One hparams file: its algorithm, env, file name, kind of provenance and the words."""

    algo: str
    env: str
    file: str
    kind: str  # converted (from RL Zoo) | validated tuning | by hand
    provenance: str


def header(path: Path) -> list[str]:
    """The file's leading comment lines' text, `# @package` and the converter's note left out."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text.startswith("@package") and not text.startswith("(python -m rl_harness"):
            lines.append(text)
    return lines


def provenance(path: Path) -> tuple[str, str]:
    """(kind, first sentence of the header): where the file's values came from."""
    text = " ".join(header(path))
    if not text:
        raise AlgoTableError(f"{path.name}: no header comment saying where its values came from")
    first = text[: _first_end(text)]
    if text.startswith(ZOO_MARKER):
        return "converted", first.removeprefix("Converted from ").strip()
    if text.startswith(CHAMPION_MARKER):
        return "validated tuning", first.removeprefix("Champion of ").strip()
    return "by hand", first


def _first_end(text: str) -> int:
    """Where the first sentence ends: a `.` or `;` before a space, outside brackets."""
    for m in _SENTENCE_END.finditer(text):
        before = text[: m.start()]
        if before.count("(") == before.count(")") and before.count("[") == before.count("]"):
            return m.start()
    return len(text)


def pairs(hparams: Path, algos: list[str]) -> list[Pair]:
    """Every <algo>_<env>.yaml under `hparams`, split by the longest algorithm name it starts
    with (`recurrent_ppo_pong` is recurrent_ppo's, not ppo's), sorted by algorithm and env."""
    out = []
    for path in sorted(hparams.glob("*.yaml")):
        algo = max((a for a in algos if path.stem.startswith(f"{a}_")), key=len, default=None)
        if algo is None:
            raise AlgoTableError(f"{path.name}: starts with no algorithm of conf/algo/ ({algos})")
        kind, words = provenance(path)
        out.append(Pair(algo, path.stem.removeprefix(f"{algo}_"), path.name, kind, words))
    return sorted(out, key=lambda p: (p.algo, p.env))


def _cell(text: str) -> str:
    return "".join({"<": "&lt;", ">": "&gt;", "*": "\\*", "|": "\\|"}.get(c, c) for c in text)


def table(conf: Path, gate: Mapping[tuple[str, str], str], gate_page: str) -> str:
    """The Markdown table: algo, env, hparams file, provenance, gate result (`gate`: the gate's
    "seeds that reach it" per (algo, env) pair, linked to `gate_page`)."""
    algos = sorted(p.stem for p in (conf / "algo").glob("*.yaml"))
    rows = ["| algo | env | hparams | provenance | RL Zoo gate |", "|---|---|---|---|---|"]
    for p in pairs(conf / "hparams", algos):
        result = gate.get((p.algo, p.env))
        shown = f"[{result}]({gate_page})" if result else "—"
        rows.append(
            f"| {p.algo} | {p.env} | `{p.file}` | {p.kind}: {_cell(p.provenance)} | {shown} |"
        )
    return "\n".join(rows) + "\n"


def counts(conf: Path) -> str:
    """One line: how many files of each kind, e.g. for the page's lead."""
    algos = sorted(p.stem for p in (conf / "algo").glob("*.yaml"))
    found = pairs(conf / "hparams", algos)
    kinds = {k: sum(p.kind == k for p in found) for k in KINDS}
    return f"{len(found)} files: " + ", ".join(f"{n} {k}" for k, n in kinds.items())
