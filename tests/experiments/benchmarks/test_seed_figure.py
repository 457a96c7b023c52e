"""Issue 43.4: the custom-task table shows every seed, the worst seed and the IQM with its CI, and
the per-seed figure draws one record now and two side by side (before/after re-tuning)."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.benchmarks import matrix
from experiments.lib import records
from experiments.lib.common import RESULTS


def test_the_custom_table_shows_every_seed_the_worst_and_the_iqm_ci() -> None:
    page = records.render(records.load(RESULTS / "report_custom_full.json"))
    (ppo,) = [line for line in page.splitlines() if line.startswith("| ppo | custom")]
    assert "2866.4 (98.3%), 2877.2 (98.7%)" in ppo and "| 8000: 2866.4 (98.3%) |" in ppo
    assert "2879.6 [2868.9, 2891.6]" in ppo
    assert "report_custom_seeds.png" in page


def test_the_seed_figure_draws_one_record_or_two_side_by_side(tmp_path: Path) -> None:
    data = records.load(RESULTS / "report_custom_full.json")
    values = matrix.seed_values(data)
    assert [s for s, _ in values["sac/custom_continuous"]] == [8000, 8001, 8002, 8003, 8004]
    assert min(v for _, v in values["sac/custom_continuous"]) < 95.0
    (tmp_path / "report_custom_full.json").write_text(json.dumps(data))
    one = matrix.draw_seed_figure(tmp_path, tmp_path / "one.png")
    assert one is not None and one.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "after.json").write_text(json.dumps(data))
    matrix.SEED_FIGURE_RECORDS += ("after",)
    try:
        two = matrix.draw_seed_figure(tmp_path, tmp_path / "two.png")
    finally:
        matrix.SEED_FIGURE_RECORDS = matrix.SEED_FIGURE_RECORDS[:-1]
    assert two is not None and two.stat().st_size > 0
