"""The published figures drawn by rl_harness.common.plots."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl_harness.common import plots


def test_each_record_of_the_per_seed_figure_has_a_legend_entry_even_without_the_first_algorithm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)  # keep the figure to read its legend
    records = [
        ("before", {"ppo/custom": [(8000, 98.3), (8001, 98.9)], "dqn/custom": [(8000, 97.3)]}),
        ("dqn only", {"dqn/custom": [(8000, 98.1), (8001, 98.6)]}),
    ]
    path = plots.plot_per_seed(records, tmp_path / "seeds.png", "t")
    (fig,) = drawn
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["before", "dqn only"]
    assert path.stat().st_size > 0
