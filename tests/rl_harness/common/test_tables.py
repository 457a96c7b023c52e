"""Tables as text: rich for the terminal, Markdown for files (README blocks, compare.md)."""

from __future__ import annotations

from rl_harness.common import tables

HEAD = ["algo", "mean ± std", "seeds"]
ROWS = [["ppo", "500.0 ± 0.0", 3], ["qlearning", "7.9 ± 0.02", None]]


def test_markdown_is_a_github_table() -> None:
    out = tables.markdown(HEAD, ROWS, align="llr").splitlines()
    assert out == [
        "| algo | mean ± std | seeds |",
        "|---|---|---:|",
        "| ppo | 500.0 ± 0.0 | 3 |",
        "| qlearning | 7.9 ± 0.02 |  |",  # None: an empty cell
    ]
    assert tables.markdown(["a"], [["x|y"]]).splitlines()[2] == "| x\\|y |"  # pipes escaped


def test_text_aligns_columns_for_the_terminal() -> None:
    lines = tables.text(HEAD, ROWS, align="llr").splitlines()
    assert lines[0].split() == ["algo", "mean", "±", "std", "seeds"]
    body = [line for line in lines if "ppo" in line or "qlearning" in line]
    assert len(body) == 2 and body[0].index("500.0") == body[1].index("7.9")  # left-aligned
    assert body[0].rstrip().endswith("3")  # right-aligned: ends where the column does
    assert len(lines[0]) >= len(body[0].rstrip()) and all(line == line.rstrip() for line in lines)
    # no colour codes and no line wrapping, whatever the terminal
    wide = tables.text(["x"], [["y" * 300]])
    assert "\x1b" not in wide and "y" * 300 in wide
