"""The RL Zoo gate's table for one run (rendered from its record), and the pieces README's merged
table shares with it: a row's cells, its seeds as printed, the summary line."""

from __future__ import annotations

from typing import Any

from experiments.gates import zoo_stats
from experiments.gates.zoo_pairs import COLUMNS, RULE, SHOWN, ZOO_SCORES, succeeded
from experiments.lib.records import provenance_line
from experiments.lib.table import EXPERIMENT, Cell, RowStats, iqm_text, num
from rl_harness.common import tables


def derived(values: list[float], algo: str, env: str) -> list[str]:
    """A pair's IQM [95% CI] and P(seed > RL Zoo) cells, from its finished seeds' returns."""
    mean, std, _ = ZOO_SCORES[algo, env]
    return [iqm_text(values), num(zoo_stats.p_beats_zoo(values, mean, std), ".2f")]


def shown(cells: list[str], extra: list[str]) -> list[str]:
    """A row in SHOWN's order from its COLUMNS cells and its derived() ones."""
    by_name = dict(zip(COLUMNS, cells, strict=True)) | dict(
        zip(["IQM [95% CI]", "P(seed > RL Zoo)"], extra, strict=True)
    )
    return [by_name[c] for c in SHOWN]


def apart(seeds: list[float], threshold: float) -> tuple[list[str], str]:
    """A row's seeds and threshold, with decimals enough that a seed just short of the threshold
    does not print equal to it (94.110 against 94.112, not 94.11 against 94.11)."""
    decimals = base = len(num(threshold).partition(".")[2])
    while decimals < 6 and any(
        x < threshold and format(x, f".{decimals}f") == format(threshold, f".{decimals}f")
        for x in seeds
    ):
        decimals += 1
    if decimals == base:
        return [num(x) for x in seeds], num(threshold)
    return [format(x, f".{decimals}f") for x in seeds], format(threshold, f".{decimals}f")


def per_seed(cells: list[Cell], threshold: float) -> tuple[str, str]:
    """A row's seeds and threshold as printed. Seeds 0…n−1, all finished, print as bare values;
    others carry their seed ("s3 201.9", "s4 failed"), so that rows of a pair from runs on other
    machines merge seed by seed in README's table (merged())."""
    cells = sorted(cells, key=lambda c: c.seed)
    values = {
        c.seed: c.mean_reward for c in cells if c.status == "FINISHED" and c.mean_reward is not None
    }
    printed, shown = apart(list(values.values()), threshold)
    value = dict(zip(values, printed, strict=True))
    if list(value) == list(range(len(cells))):
        return ", ".join(printed), shown
    return ", ".join(f"s{c.seed} {value.get(c.seed, 'failed')}" for c in cells), shown


def printed(s: RowStats) -> list[str]:
    """A row's cells as a run's table prints them, in COLUMNS' order (README's merged table
    joins the runs' rows from these, experiments.gates.zoo_results)."""
    p, ref = s.plan, s.plan.row.reference
    assert ref is not None and ref.budget is not None and s.threshold is not None
    failed = len(s.cells) - len(s.done)
    seeds, threshold = per_seed(s.cells, s.threshold)
    return [
        p.row.algo, p.row.env, p.hparams or "defaults",
        f"{p.budget:,} ({ref.budget:,})", seeds,
        ref.source, f"≥ {threshold}",
        f"{succeeded(s)} of {len(s.cells)}" + (f" ({failed} failed)" if failed else ""),
        num(s.wall_s, ".0f"),
    ]  # fmt: skip


def table(stats: list[RowStats]) -> str:
    lines = [shown(printed(s), derived(list(s.returns), s.plan.row.algo, s.plan.row.env))
             for s in stats]  # fmt: skip
    return tables.markdown(SHOWN, lines)


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def summary(reached: int, seeds: int, pairs: int) -> str:
    counted = f"{reached:,} of {count(seeds, 'seed')} over {count(pairs, 'pair')}"
    return f"{counted} {'reaches' if reached == 1 else 'reach'} RL Zoo's score. {RULE}"


def report(stats: list[RowStats], record: dict[str, Any]) -> str:
    """One run's page, from its record's rows (experiments.lib.matrix.stats_from_record)."""
    bench_id = record["bench_id"]
    reached = sum(succeeded(s) for s in stats)
    seeds = sum(len(s.cells) for s in stats)
    return "\n".join([
        f"#### RL Zoo reproduction gate: {bench_id}", "", provenance_line(record), "",
        f"MLflow: experiment `{EXPERIMENT}`, filter `tags.\"bench.id\" = '{bench_id}'`.", "",
        table(stats), "",
        summary(reached, seeds, len(stats)),
    ]) + "\n"  # fmt: skip
