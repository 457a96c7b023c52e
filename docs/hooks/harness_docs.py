"""MkDocs hook (mkdocs.yml `hooks:`): the evidence and the generated tables, at build time.

- Evidence stays where the experiments write it, outside docs/: every file under
  experiments/results/ and experiments/ui/ but the Markdown pages joins the build at the same
  relative path, so a top-level page links `experiments/ui/runs_list.png` and strict mode checks
  the link. The Markdown result pages are included with pymdownx.snippets
  (`--8<-- "experiments/results/<page>.md"`): their links are written from the repository root,
  which is where a top-level page stands too.
- A line `<!-- generated: NAME -->` in a page is replaced by that table, computed from conf/ and
  the RL Zoo gate's result files on every build (GENERATED lists the names).

The gate's results are read with the repository's experiments package, loaded from its path
(it is not installed), so `mkdocs` works from any directory and however it was started.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

import algo_table
import config_keys
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ("experiments/results", "experiments/ui")
MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)
GATE_PAGE = "zoo-gate.md"


def evidence_files(root: Path = ROOT) -> list[str]:
    """The evidence files the site serves, as paths relative to `root` (Markdown pages left
    out: they are included, not rendered on their own)."""
    return sorted(
        p.relative_to(root).as_posix()
        for top in EVIDENCE
        for p in (root / top).rglob("*")
        if p.is_file() and p.suffix != ".md"
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the evidence files under their repository paths."""
    for path in evidence_files():
        files.append(File(path, str(ROOT), config.site_dir, config.use_directory_urls))
    return files


def _load_experiments() -> None:
    """The repository's experiments package under its name, from its path (not installed; the
    hook may run from any directory), unless it is loaded already."""
    if "experiments" in sys.modules:
        return
    package = ROOT / "experiments"
    spec = importlib.util.spec_from_file_location(
        "experiments", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise PluginError(f"harness_docs: cannot load {package}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["experiments"] = module
    spec.loader.exec_module(module)


def _gate_results() -> dict[tuple[str, str], str]:
    """(algo, env) → "n of m seeds" from the RL Zoo gate's result files, where the gate ran
    the pair's shipped hparams file."""
    _load_experiments()
    from experiments.gates.zoo_pairs import COLUMNS
    from experiments.gates.zoo_results import merged_pairs

    hp, reach = COLUMNS.index("hparams"), COLUMNS.index("seeds that reach it")
    return {
        (algo, env): f"{cells[reach]} seeds"
        for (algo, env), cells in merged_pairs(ROOT / "experiments" / "results").items()
        if cells[hp] == f"{algo}_{env}.yaml"
    }


GENERATED: dict[str, Callable[[], str]] = {
    "config-keys": lambda: config_keys.table(ROOT / "conf" / "config.yaml"),
    "algo-env-table": lambda: algo_table.table(ROOT / "conf", _gate_results(), GATE_PAGE),
    "hparams-counts": lambda: algo_table.counts(ROOT / "conf"),
}


def generate(markdown: str, where: str) -> str:
    """`markdown` with each generated marker replaced by its table; an unknown name stops."""

    def one(m: re.Match[str]) -> str:
        make = GENERATED.get(m.group(1))
        if make is None:
            known = ", ".join(GENERATED)
            raise PluginError(f"{where}: unknown generated block {m.group(1)!r} (known: {known})")
        try:
            return make()
        except ValueError as e:  # config_keys.ConfigDocError, algo_table.AlgoTableError
            raise PluginError(f"{where}: {e}") from e

    return MARKER.sub(one, markdown)


def on_page_markdown(markdown: str, page: Page, **kwargs: object) -> str:
    """Fill the page's generated blocks."""
    return generate(markdown, page.file.src_uri)
