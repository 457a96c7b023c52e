"""The README is what a newcomer reads in five minutes: short, with links into the manual
(docs/), whose every linked page exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_is_at_most_200_lines() -> None:
    assert len(README.read_text().splitlines()) <= 200


def test_readme_keeps_the_two_setup_commands_and_points_to_the_docs() -> None:
    text = README.read_text()
    assert "## Setup: two commands" in text
    assert "```bash\nmake install train\n```" in text and "```bash\nmake test\n```" in text
    assert "make docs" in text


def test_readme_links_into_docs_pages_that_exist() -> None:
    text = README.read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#[^)]*)?\)", text)
    generated = ("configuration.md", "algorithms.md")  # written by the docs build from the code
    written = [link for link in links if Path(link).name not in generated]
    assert len(set(links)) >= 12
    missing = [link for link in written if not (ROOT / link).is_file()]
    assert not missing, f"README links to docs pages that do not exist: {missing}"


def test_readme_holds_no_measured_figure() -> None:
    """Figures live in the docs pages, rendered from records (experiments/lib/pages.py): README
    has no generated block and no table of results."""
    text = README.read_text()
    assert "<!--" not in text
    assert not re.search(r"\d+\.\d+ ±|\bIQM \[\d", text)
