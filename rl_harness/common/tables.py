"""Tables as text, one way: rich renders them for the terminal, or as Markdown for files.

    text(headers, rows)       a terminal table (box-drawing), as a string
    markdown(headers, rows)   a GitHub Markdown table, as a string
`align` holds "l" or "r" per column (default: left).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

Row = Sequence[object]


def _cells(rows: Sequence[Row]) -> list[list[str]]:
    return [["" if c is None else str(c) for c in row] for row in rows]


def text(
    headers: Sequence[str], rows: Sequence[Row], align: str | None = None, title: str | None = None
) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=box.SIMPLE_HEAD, title=title, show_edge=False, pad_edge=False)
    for i, column in enumerate(table.columns):
        column.justify = "right" if align and align[i] == "r" else "left"
        column.overflow = "fold"
    for row in _cells(rows):
        table.add_row(*row)
    console = Console(width=10_000, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    lines = console.export_text().splitlines()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def markdown(headers: Sequence[str], rows: Sequence[Row], align: str | None = None) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if align and align[i] == "r" else "---" for i in range(len(headers))]
    return "\n".join(
        [line(list(headers)), "|" + "|".join(rule) + "|"] + [line(r) for r in _cells(rows)]
    )
