"""Every published page, rendered from the records: each result's Markdown beside its JSON record
under experiments/results/, and the generated blocks of the documentation pages under docs/,
which hold those pages (and a few figures counted from the code). `python -m experiments.render`
writes them; the fast test (tests/experiments/lib/test_records.py) renders the same pages and
compares them with the files.

The generated blocks, between `<!-- NAME:start -->` and `<!-- NAME:end -->` (BLOCKS: the page
that holds each):
    bench       the benchmark pages of BENCH, in that order, those with a record
    zoo-gate    the RL Zoo gate's merged table (experiments.gates.zoo_results.merged)
    bad-inputs  how many malformed inputs the bad-input matrix (experiments.checks.bad_inputs) has
"""

from __future__ import annotations

import re
from pathlib import Path

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT

DOCS = ROOT / "docs"
BLOCKS = {
    "bench": DOCS / "benchmarks.md",
    "zoo-gate": DOCS / "zoo-gate.md",
    "bad-inputs": DOCS / "crash-safety.md",
}
# The bench block: these pages, in this order, where their record exists.
BENCH = (
    "report_custom_full",
    "report_custom_10seeds",
    "report_ppo_cvar",
    "report_dqn_10seeds",
    "bench_full",
    "scaling_full",
    "overhead_full",
    "serving_full",
    "qlearning_full",
    "sweep_full",
    "seed_threads",
    "system_metrics_full",
)


def result_pages(results: Path = RESULTS) -> dict[Path, str]:
    """Each record's page (path of its .md → text), rendered from the record alone."""
    return {
        path.with_suffix(".md"): records.render(records.load(path))
        for path in records.published(results)
    }


def block(text: str, name: str, body: str) -> str:
    """`text` with the block NAME's content replaced by `body`."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n?).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- {name}:start --> … <!-- {name}:end --> block to fill")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def bodies(rendered: dict[Path, str], results: Path = RESULTS) -> dict[str, str]:
    """Each generated block's content (name → text), from the rendered pages and the code."""
    from experiments.checks.bad_inputs import CASES
    from experiments.gates import zoo_results

    bench = [rendered[p] for name in BENCH if (p := results / f"{name}.md") in rendered]
    return {
        "bench": "\n".join(page.strip() + "\n" for page in bench),
        "zoo-gate": zoo_results.merged(results),
        "bad-inputs": str(len(CASES)),
    }


def doc_pages(
    rendered: dict[Path, str], results: Path = RESULTS, blocks: dict[str, Path] = BLOCKS
) -> dict[Path, str]:
    """The documentation pages that hold generated blocks, with those blocks filled."""
    filled = bodies(rendered, results)
    out: dict[Path, str] = {}
    for name, path in blocks.items():
        out[path] = block(out.get(path) or path.read_text(), name, filled[name])
    return out


def every_page(results: Path = RESULTS, blocks: dict[str, Path] = BLOCKS) -> dict[Path, str]:
    """Every published page: path → the text rendered from the records."""
    rendered = result_pages(results)
    return {**rendered, **doc_pages(rendered, results, blocks)}


def stale(pages: dict[Path, str]) -> list[Path]:
    """The pages whose file differs from what the records render."""
    return [p for p, text in pages.items() if not p.exists() or p.read_text() != text]


def draw_figures(results: Path = RESULTS) -> list[Path]:
    """The figures drawn from records (PNG, so compared by existence, not byte for byte)."""
    from experiments.benchmarks import matrix
    from experiments.gates import zoo_results

    drawn = [matrix.draw_seed_figure(results)]
    if zoo_results.record_paths(results):
        drawn.append(zoo_results.draw_profile(results))
    return [p for p in drawn if p is not None]


def figures(results: Path = RESULTS) -> list[Path]:
    """Where draw_figures writes."""
    from experiments.benchmarks import matrix
    from experiments.gates import zoo_results

    names = matrix.SEED_FIGURE_RECORDS
    exists = any((results / f"{n}.json").exists() for n in names)
    out = [results / matrix.SEED_FIGURE.name] if exists else []
    return out + ([results / zoo_results.FIGURE.name] if zoo_results.record_paths(results) else [])


def write(pages: dict[Path, str]) -> list[Path]:
    """Write the pages that changed; returns them."""
    changed = stale(pages)
    for path in changed:
        path.write_text(pages[path])
    return changed


def update_docs(results: Path = RESULTS, blocks: dict[str, Path] = BLOCKS) -> None:
    """The docs pages' generated blocks, again from the records (what `--readme` of a script does:
    the flag kept its name from when the blocks were README's)."""
    for path, text in doc_pages(result_pages(results), results, blocks).items():
        path.write_text(text)
