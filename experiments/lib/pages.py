"""Every published page, rendered from the records: each result's Markdown beside its JSON record
under experiments/results/, and README's generated blocks, which hold those pages (and a few
figures counted from the code). `python -m experiments.render` writes them; the fast test
(tests/experiments/lib/test_records.py) renders the same pages and compares them with the files.

README's blocks, between `<!-- NAME:start -->` and `<!-- NAME:end -->`:
    bench       the benchmark pages of BENCH, in that order, those with a record
    zoo-gate    the RL Zoo gate's merged table (experiments.gates.zoo_results.merged)
    bad-inputs  how many malformed inputs the bad-input matrix (experiments.checks.bad_inputs) has
"""

from __future__ import annotations

import re
from pathlib import Path

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT

README = ROOT / "README.md"
# README's bench block: these pages, in this order, where their record exists.
BENCH = (
    "report_custom_full",
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
        raise SystemExit(f"README has no <!-- {name}:start --> … <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def readme_page(rendered: dict[Path, str], results: Path = RESULTS, readme: Path = README) -> str:
    """README with its generated blocks filled from the rendered pages and the code."""
    from experiments.checks.bad_inputs import CASES
    from experiments.gates import zoo_results

    bench = [rendered[p] for name in BENCH if (p := results / f"{name}.md") in rendered]
    text = readme.read_text()
    text = block(text, "bench", "\n".join(page.strip() + "\n" for page in bench))
    text = block(text, "zoo-gate", zoo_results.merged(results))
    return block(text, "bad-inputs", str(len(CASES)))


def every_page(results: Path = RESULTS, readme: Path = README) -> dict[Path, str]:
    """Every published page: path → the text rendered from the records."""
    rendered = result_pages(results)
    return {**rendered, readme: readme_page(rendered, results, readme)}


def stale(pages: dict[Path, str]) -> list[Path]:
    """The pages whose file differs from what the records render."""
    return [p for p, text in pages.items() if not p.exists() or p.read_text() != text]


def draw_figures(results: Path = RESULTS) -> list[Path]:
    """The figures drawn from records (PNG, so compared by existence, not byte for byte)."""
    from experiments.benchmarks import matrix

    return [p for p in [matrix.draw_seed_figure(results)] if p is not None]


def figures(results: Path = RESULTS) -> list[Path]:
    """Where draw_figures writes."""
    from experiments.benchmarks import matrix

    names = matrix.SEED_FIGURE_RECORDS
    exists = any((results / f"{n}.json").exists() for n in names)
    return [results / matrix.SEED_FIGURE.name] if exists else []


def write(pages: dict[Path, str]) -> list[Path]:
    """Write the pages that changed; returns them."""
    changed = stale(pages)
    for path in changed:
        path.write_text(pages[path])
    return changed


def update_readme(results: Path = RESULTS, readme: Path = README) -> None:
    """README's generated blocks, again from the records (what `--readme` of a script does)."""
    readme.write_text(readme_page(result_pages(results), results, readme))
