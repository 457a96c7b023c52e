"""The RL Zoo gate's runs from before it wrote records (experiments/gates/zoo_import.py): a page the
gate wrote parses into a record whose page and README row say what the page said; a change to a
page that the gate did not make is found and kept in the record; and the committed records are
what the import writes from the pages in git."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from experiments.gates import zoo_import as zi
from experiments.gates import zoo_pairs as pairs_
from experiments.gates import zoo_results as results_
from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT

STAMP = (
    "_Generated 2026-12-03 09:01 by `python -m experiments.bench_zoo_gate --from-mlflow g "
    "--readme` at commit feeb6d1+dirty on 2 CPUs (AMD EPYC), load average at start 1.5._"
)
# A page as the gate wrote it before it printed the IQM and P(seed > RL Zoo) columns.
OLD_PAGE = f"""#### RL Zoo reproduction gate: results

{STAMP}

MLflow: experiment `bench`, filter `tags."bench.id" = 'g'`.

| {" | ".join(pairs_.COLUMNS)} |
|{"---|" * len(pairs_.COLUMNS)}
| ars | cartpole | defaults | 50,000 (50,000) | 500.0, 500.0, 20.00 | RL Zoo: 500.0 ± 0.000 \
| ≥ 500.0 | 2 of 3 | 11 |
| sac | pendulum | defaults | 20,000 (20,000) | s1 -150.0, s2 failed | RL Zoo: -157.0 ± 88.71 \
| ≥ -201.4 | 1 of 2 (1 failed) | — |

3 of 5 seeds over 2 pairs reach RL Zoo's score. The rule.
"""


def _record(page: str) -> dict[str, Any]:
    """What the import makes of a page (its git facts made up: the page is no committed file)."""
    parsed = zi.parse(page)
    keep = ("provenance", "generated", "command", "commit", "dirty", "machine", "load_at_start")
    head = {"command": "python -m experiments.gates.zoo_import", "commit": "0" * 40,
            "dirty": "false", "machine": "m", "created": "2026-12-07 10:00 UTC"}  # fmt: skip
    return {
        **head,
        "bench_id": "g",
        "imported": {
            "from": "p.md",
            "at": "1" * 40,
            "blob": "2" * 40,
            "published_in": "3" * 40,
            "written_by": "the gate",
            **{k: parsed[k] for k in keep},
            "edits_not_by_the_gate": [],
            "precision": "as printed",
        },  # fmt: skip
        "rows": [zi.row_record(r, parsed["commit"]) for r in parsed["rows"]],
    }


def test_a_page_the_gate_wrote_reads_into_values_and_its_provenance() -> None:
    page = zi.parse(OLD_PAGE)
    assert page["command"] == "python -m experiments.bench_zoo_gate --from-mlflow g --readme"
    assert (page["commit"], page["dirty"], page["load_at_start"]) == ("feeb6d1", True, 1.5)
    assert page["generated"] == "2026-12-03 09:01" and page["machine"] == "2 CPUs (AMD EPYC)"
    ars, sac = (zi.row_record(r, page["commit"]) for r in page["rows"])
    assert ars["seeds"] == {"0": 500.0, "1": 500.0, "2": 20.0} and ars["reached"] == 2
    assert (ars["budget"], ars["zoo_budget"], ars["threshold"]) == (50_000, 50_000, 500.0)
    assert sac["seeds"] == {"1": -150.0, "2": None} and sac["wall_s_per_seed"] is None
    assert ars["hparams_sha256_at_commit"] is None  # "defaults": no config file


def test_an_imported_records_page_and_readme_row_say_what_its_page_said(tmp_path: Path) -> None:
    record = _record(OLD_PAGE)
    page = zi.render(record)
    assert page.startswith("#### RL Zoo reproduction gate: g\n")
    assert "`python -m experiments.gates.zoo_import` at commit 0000000" in page
    assert STAMP.strip("_") in page  # the imported page's own provenance
    assert "| 500.0, 500.0, 20.00 | 340.0 (no CI: 3 seeds < 5) | RL Zoo: 500.0 ± 0.000 |" in page
    assert page.rstrip().endswith("3 of 5 seeds over 2 pairs reach RL Zoo's score. " + pairs_.RULE)
    (tmp_path / "zoo_gate").mkdir()
    (tmp_path / "zoo_gate" / "g.json").write_text(json.dumps(record))
    text = results_.merged(tmp_path)
    (ars,) = [line for line in text.splitlines() if line.startswith("| ars")]
    assert "| 0.33 | ≥ 500.0 | 2 of 3 | 11 | g |" in ars  # (½ + ½ + 0) / 3
    assert f"- `g`: {STAMP.strip('_')}" in text and "`experiments.bench_zoo_gate` is now" in text


def test_a_change_to_a_page_that_kept_its_stamp_was_not_the_gates() -> None:
    rerun = OLD_PAGE.replace("2026-12-03 09:01", "2026-12-04 10:00").replace("| 11 |", "| 12 |")
    renamed = rerun.replace("gate: results", "gate: g")
    history = [("a" * 40, "p.md", OLD_PAGE), ("b" * 40, "p.md", rerun), ("c" * 40, "q.md", renamed)]
    assert zi.edits(history) == [{
        "commit": "c" * 40,
        "removed": ["#### RL Zoo reproduction gate: results"],
        "added": ["#### RL Zoo reproduction gate: g"],
    }]  # fmt: skip
    record = _record(OLD_PAGE)
    record["imported"]["edits_not_by_the_gate"] = zi.edits(history)
    assert "commit ccccccc changed `#### RL Zoo reproduction gate: results` to" in zi.render(record)


def test_a_page_whose_rows_do_not_add_up_to_its_summary_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = OLD_PAGE.replace("3 of 5 seeds", "4 of 5 seeds")
    monkeypatch.setattr(zi, "git", lambda *a: wrong if a[0] == "show" else "x" * 40)
    monkeypatch.setattr(zi, "versions", lambda path, at: [("c" * 40, path, wrong)])
    with pytest.raises(ValueError, match="its page says '4 of 5"):
        zi.imported("g", {"command": "python -m experiments.gates.zoo_import"})


def _has_history() -> bool:
    done = subprocess.run(["git", "cat-file", "-e", f"{zi.SOURCE}^{{commit}}"], cwd=ROOT)
    return shutil.which("git") is not None and done.returncode == 0


@pytest.mark.skipif(not _has_history(), reason="the pages' commit is not in this clone")
@pytest.mark.parametrize("run", zi.RUNS)
def test_the_committed_records_are_what_the_import_writes_from_the_pages_in_git(run: str) -> None:
    committed = records.load(RESULTS / "zoo_gate" / f"{run}.json")
    again = zi.imported(run, {"command": committed["command"]})
    assert again["imported"] == committed["imported"] and again["rows"] == committed["rows"]
    for row in committed["rows"]:  # the values are the printed cells, read as numbers
        cells = [row["printed"][c] for c in pairs_.COLUMNS]
        printed = results_.seeds_of(cells)
        assert row["seeds"] == {str(k): None if v == "failed" else float(v)
                                for k, v in printed.items()}  # fmt: skip
