"""The promotions validated tuning made: every conf/hparams/*.yaml that the loop wrote over the
shipped file (rl_harness/tuning/report.py: `promote=true` when P(champion > incumbent) is
significant) carries the loop's figures in its header; this check reads them into one record.

    python -m experiments.checks.promotions     # experiments/results/promotions.json and .md

Why a check and not the loop: the loop's own outputs (its sweep directory and MLflow runs) stayed
on the machines that ran it; the header it wrote into the promoted file is what the repository
holds. So the record holds only what the files say (study, trial, test IQM with its 95% CI and
test seeds, tuning score, incumbent's test IQM, P(champion > incumbent) with its CI, the
command-line overrides), k as the study's name gives it (`...-k3`; the header does not say k
itself), the commit that promoted the file (git), the config's hash then and now, and the
commits that changed the file since.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
from rl_harness.common import tables
from rl_harness.config.preflight import CONF_DIR

RECORD = RESULTS / "promotions.json"
HEADER = re.compile(
    r"Champion of Optuna study '(?P<study>[^']+)': trial (?P<trial>\d+), test IQM "
    r"(?P<iqm>\S+) \[(?P<low>\S+), (?P<high>\S+)\] on seeds (?P<seeds>[\d ]+) "
    r"\(tuning (?P<tuning>\S+)\);\s*incumbent (?P<incumbent>\S+); P\(champion > incumbent\) = "
    r"(?P<p>\S+) \[(?P<p_low>\S+), (?P<p_high>\S+)\]\."
)
MARK = "# Champion of Optuna study"


def comments(text: str) -> str:
    """A config's header comments, joined into one text (the `# ` of each line dropped)."""
    return " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))


def said(text: str, prefix: str) -> str | None:
    """The rest of the header line that starts with `prefix` (one line the loop wrote)."""
    return next(
        (x[2 + len(prefix) :] for x in text.splitlines() if x.startswith("# " + prefix)), None
    )


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def promotion(path: Path) -> dict[str, Any] | None:
    """A promoted file's figures, as its header states them; None for a file no loop promoted."""
    text = path.read_text()
    header = comments(text)
    m = HEADER.search(header)
    if m is None:
        return None
    overrides = said(text, "Command-line overrides: ")
    words = dict(w.split("=", 1) for w in (overrides or "").split() if "=" in w)
    kept = said(text, "Kept from the file this replaced: ")
    k = re.search(r"-k(\d+)(?:-|$)", m["study"])
    inside = path.resolve().is_relative_to(ROOT)
    rel = path.resolve().relative_to(ROOT).as_posix() if inside else str(path)
    # The commit that wrote this champion's line: a later promotion replaces the line (the
    # count of MARK stays 1), so search for this study's own line, not for MARK.
    line = f"{MARK[2:]} '{m['study']}': trial {m['trial']},"
    added = git("log", "--format=%H %cs", "-S", line, "--", rel).split() if inside else []
    commit, date = (added[-2], added[-1]) if added else (None, None)
    then = git("show", f"{commit}:{rel}").encode() if commit else None
    since = git("log", "--format=%H", f"{commit}..HEAD", "--", rel).split() if commit else []
    return {
        "file": rel,
        "algo": words.get("algo", path.stem.split("_", 1)[0]),
        "env": words.get("env", path.stem.split("_", 1)[1]),
        "study": m["study"],
        "k_from_study_name": int(k[1]) if k else None,
        "trial": int(m["trial"]),
        "test_iqm": float(m["iqm"]),
        "test_ci": [float(m["low"]), float(m["high"])],
        "test_seeds": [int(s) for s in m["seeds"].split()],
        "tuning": float(m["tuning"]),
        "incumbent_test_iqm": float(m["incumbent"]),
        "p_improvement": float(m["p"]),
        "p_ci": [float(m["p_low"]), float(m["p_high"])],
        "overrides": overrides,
        "kept_from_replaced": [x.strip() for x in kept.split(",")] if kept else [],
        "promoted_in": commit,
        "promoted_on": date,
        "config_sha256_promoted": hashlib.sha256(then).hexdigest() if then else None,
        "config_sha256": records.config_hash(path),
        "changed_since": since,
    }


def record(command: str, conf: Path = CONF_DIR) -> dict[str, Any]:
    """Every promotion's figures, by file name."""
    head = records.header(command)
    found = [p for f in sorted((conf / "hparams").glob("*.yaml")) if (p := promotion(f))]
    return {**head, "promotions": found}


def render(data: dict[str, Any]) -> str:
    """The promotions' page, from the record alone."""
    rows = [
        [
            f"{p['algo']}/{p['env']}",
            f"`{p['study']}` trial {p['trial']}",
            "—" if p["k_from_study_name"] is None else str(p["k_from_study_name"]),
            f"{p['tuning']:g}",
            f"{p['test_iqm']:g} [{p['test_ci'][0]:g}, {p['test_ci'][1]:g}]",
            " ".join(map(str, p["test_seeds"])),
            f"{p['incumbent_test_iqm']:g}",
            f"{p['p_improvement']:.2f} [{p['p_ci'][0]:.2f}, {p['p_ci'][1]:.2f}]",
            f"{(p['promoted_in'] or '—')[:7]} ({p['promoted_on'] or '—'})",
            f"`{p['config_sha256'][:12]}`"
            + (
                ""
                if p["config_sha256"] == p["config_sha256_promoted"]
                else f" (promoted: `{(p['config_sha256_promoted'] or '—')[:12]}`, "
                f"{len(p['changed_since'])} commit(s) since)"
            ),
        ]  # fmt: skip
        for p in data["promotions"]
    ]
    head = ["pair", "study, champion", "k", "tuning", "test IQM [95% CI]", "test seeds",
            "incumbent (test IQM)", "P(champion > incumbent) [95% CI]", "promoted in",
            "config sha256"]  # fmt: skip
    return "\n".join([
        "#### Promotions by validated tuning", "", records.provenance_line(data), "",
        tables.markdown(head, rows), "",
        f"{len(rows)} promoted configs, read from their headers (written by the loop); k as "
        "each study's name gives it.",
    ]) + "\n"  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    command = "python -m experiments.checks.promotions " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    print(records.write(record(command.strip()), RECORD.with_suffix(".md")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
