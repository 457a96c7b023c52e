"""The RL Zoo gate's runs from before it wrote records, as records: each run's page, as the gate
wrote it and as committed at SOURCE, parsed into a record beside it (zoo_gate/<run>.json), whose
page is then rendered from that record like any other.

    python -m experiments.gates.zoo_import      # the three runs of RUNS; draws the profile too

Why an import and not a rerun: each run's MLflow store stayed on the machine that trained it
(hours a seed for some pairs), so these pages are the only copy of their per-seed values. The
values are the ones the pages printed (rounded as experiments.lib.table.num prints), read
from git, not from the working tree, so that the import reruns to the same records after the
pages are re-rendered. The record keeps the page's provenance (command, commit, machine), which
commit published it, and every change made to the page since that the gate did not make (a
commit that changed the page but not its "Generated" stamp): see edits().
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from experiments.gates.zoo_pairs import COLUMNS, SHOWN
from experiments.gates.zoo_results import draw_profile, seeds_of
from experiments.gates.zoo_table import count, derived, shown, summary
from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
from experiments.lib.table import EXPERIMENT
from rl_harness.common import tables

# The commit the pages are read at: the last before they were re-rendered from these records.
SOURCE = "77753f693c2b715d2261a950da9fc05dafe4ce23"
RUNS = ("zoo-gate-20261203", "zoo-gate-20261204", "zoo-gate-20261205")
PRECISION = (
    "each seed's closing evaluation as the page printed it (one decimal from 100 up, two from 1, "
    "three below, more where a seed lies just short of its threshold); the unrounded values are "
    "in the run's MLflow store, which stayed on the machine that trained it"
)
PROVENANCE = re.compile(
    r"Generated (?P<generated>\S+ \S+) by `(?P<command>.+)` at commit "
    r"(?P<commit>[0-9a-f]+)(?P<dirty>\+dirty)? on (?P<machine>.+?)"
    r"(?:, load average at start (?P<load>[\d.]+))?\.$"
)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def page_of(run: str) -> str:
    """A run's page, as its path is typed from the repository's root."""
    return f"experiments/results/zoo_gate/{run}.md"


def generated(text: str) -> str:
    """A page's provenance line without its underscores ("Generated 2026-12-03 09:01 by ...")."""
    return next(line for line in text.splitlines() if line.startswith("_Generated ")).strip("_")


def parse(text: str) -> dict[str, Any]:
    """A run's page as the gate wrote it: its provenance, split, and each row's cells by COLUMNS'
    names (the header is read by name, so a page with SHOWN's derived columns reads as well)."""
    line = generated(text)
    m = PROVENANCE.match(line)
    if m is None:
        raise ValueError(f"not a provenance line the gate writes: {line!r}")
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("| algo | env |"))
    names = _split(lines[start])
    rows = []
    for x in lines[start + 2 :]:
        if not x.startswith("| "):
            break
        cells = _split(x)
        rows.append({c: cells[names.index(c)] for c in COLUMNS})
    said = next(x for x in lines[start:] if re.match(r"[\d,]+ of [\d,]+ seeds? over", x))
    return {
        "provenance": line,
        "generated": m["generated"],
        "command": m["command"],
        "commit": m["commit"],
        "dirty": m["dirty"] is not None,
        "machine": m["machine"],
        "load_at_start": float(m["load"]) if m["load"] else None,
        "rows": rows,
        "summary": said,
    }


def _split(line: str) -> list[str]:
    return line.removeprefix("| ").removesuffix(" |").split(" | ")


def row_record(printed: dict[str, str], commit: str) -> dict[str, Any]:
    """One row of an imported page: its printed cells, and the same as values (a seed's return,
    None where it failed), with the hash of its config file at the commit the gate ran at."""
    algo, env = printed["algo"], printed["env"]
    budget, zoo = re.fullmatch(r"([\d,]+) \(([\d,]+)\)", printed["timesteps (RL Zoo's)"]).groups()
    reach = re.match(r"(\d+) of (\d+)", printed["seeds that reach it"])
    assert reach is not None, printed
    hparams = printed["hparams"]
    config = None
    if hparams != "defaults":
        config = hashlib.sha256(
            subprocess.run(
                ["git", "show", f"{commit}:conf/hparams/{hparams}"],
                cwd=ROOT, capture_output=True, check=True,
            ).stdout
        ).hexdigest()  # fmt: skip
    wall = printed["wall s / seed"]
    cells = [printed[c] for c in COLUMNS]
    return {
        "row": f"{algo}/{env}",
        "hparams": hparams,
        "hparams_sha256_at_commit": config,
        "budget": int(budget.replace(",", "")),
        "zoo_budget": int(zoo.replace(",", "")),
        "seeds": {str(k): None if v == "failed" else float(v) for k, v in seeds_of(cells).items()},
        "threshold": float(printed["threshold"].removeprefix("≥ ")),
        "reached": int(reach[1]),
        "wall_s_per_seed": float(wall) if wall.replace(".", "", 1).isdigit() else None,
        "printed": printed,
    }


def versions(path: str, at: str = SOURCE) -> list[tuple[str, str, str]]:
    """(commit, the page's path then, its text) for every commit that changed the page up to
    `at`, oldest first (following renames)."""
    log = git("log", "--follow", "--name-only", "--format=%H", at, "--", path).split()
    pairs = list(zip(log[::2], log[1::2], strict=True))
    return [(c, p, git("show", f"{c}:{p}")) for c, p in reversed(pairs)]


def edits(history: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The changes to a page that the gate did not make: a commit that changed the page but kept
    its "Generated" stamp (the gate rewrites the whole page, stamp included), with the lines it
    removed and added."""
    out = []
    for (_, _, before), (commit, _, after) in zip(history, history[1:], strict=False):
        if before != after and generated(before) == generated(after):
            diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
            out.append({
                "commit": commit,
                "removed": [d[2:] for d in diff if d.startswith("- ")],
                "added": [d[2:] for d in diff if d.startswith("+ ")],
            })  # fmt: skip
    return out


def imported(run: str, header: dict[str, Any], at: str = SOURCE) -> dict[str, Any]:
    """A run's record, from its page as committed at `at`; `header`: records.header(command),
    read once before the import writes anything (a record written first would make the
    checkout read as changed for the next)."""
    path = page_of(run)
    history = versions(path, at)
    text = git("show", f"{at}:{path}")
    page = parse(text)
    rows = [row_record(r, page["commit"]) for r in page["rows"]]
    said = summary(sum(r["reached"] for r in rows), sum(len(r["seeds"]) for r in rows), len(rows))
    counted, printed = (s.split(" reach")[0] for s in (said, page["summary"]))
    if counted != printed:
        raise ValueError(f"{path}: its rows count {counted!r}, its page says {printed!r}")
    source = {k: page[k] for k in ("provenance", "generated", "command", "commit", "dirty",
                                   "machine", "load_at_start")}  # fmt: skip
    return {
        **header,
        "bench_id": run,
        "imported": {
            "from": path,
            "at": git("rev-parse", at).strip(),
            "blob": git("rev-parse", f"{at}:{path}").strip(),
            "published_in": history[-1][0],
            "written_by": "the RL Zoo gate (experiments.bench_zoo_gate, since moved to "
            "experiments.gates.zoo_gate)",
            **source,
            "edits_not_by_the_gate": edits(history),
            "precision": PRECISION,
        },
        "rows": rows,
    }


def record_path(record: dict[str, Any]) -> Path:
    return RESULTS / "zoo_gate" / f"{record['bench_id']}.json"


def render(record: dict[str, Any]) -> str:
    """An imported run's page, from its record alone: what it was imported from, then its table
    as the gate's pages print it (its values as the imported page printed them)."""
    source = record["imported"]
    lines = []
    for row in record["rows"]:
        algo, env = row["row"].split("/")
        values = [v for v in row["seeds"].values() if v is not None]
        cells = [row["printed"][c] for c in COLUMNS]
        lines.append(shown(cells, derived(values, algo, env)))
    seeds = sum(len(r["seeds"]) for r in record["rows"])
    changed = [
        f"commit {e['commit'][:7]} changed {', '.join(f'`{x}`' for x in e['removed']) or 'nothing'}"
        f" to {', '.join(f'`{x}`' for x in e['added']) or 'nothing'}"
        for e in source["edits_not_by_the_gate"]
    ]
    return "\n".join([
        f"#### RL Zoo reproduction gate: {record['bench_id']}", "",
        records.provenance_line(record), "",
        f"Imported from `{source['from']}` as committed at {source['at'][:7]} (published in "
        f"{source['published_in'][:7]}), the page written by {source['written_by']}: "
        f"{source['provenance']} Values: {source['precision']}.",
        *([""] + [f"Changed since by a commit that kept its stamp (not the gate): {c}."
                 for c in changed]
          if changed else []),
        "", f"MLflow: experiment `{EXPERIMENT}`, filter "
        f"`tags.\"bench.id\" = '{record['bench_id']}'` (on the machine that ran it).", "",
        tables.markdown(SHOWN, lines), "",
        summary(sum(r["reached"] for r in record["rows"]), seeds, len(record["rows"])),
    ]) + "\n"  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    args = ap.parse_args(argv)
    command = "python -m experiments.gates.zoo_import " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    header = records.header(command.strip())
    for run in args.runs:
        record = imported(run, header)
        records.write(record, record_path(record).with_suffix(".md"))
        print(f"{records.shown(record_path(record))}: {count(len(record['rows']), 'pair')}")
    print(f"{records.shown(draw_profile())}: drawn from the gate's records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
