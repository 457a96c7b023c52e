"""The benchmark table: what a matrix row is, how its seeds are summarised, and the markdown.

Pure functions of the cells (one per seed, as read back from MLflow), so the table can be
rebuilt from the store alone and tested on made-up numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import DictConfig

from experiments.lib.common import compose_cfg
from experiments.lib.records import provenance_line
from rl_harness.common import tables
from rl_harness.common.stats import aggregate_iqm, ci95, mean_std, stratified_bootstrap_ci
from rl_harness.common.stats import iqm as interquartile_mean

EXPERIMENT = "bench"  # the MLflow experiment every bench run goes to
# A row's IQM carries a 95% stratified-bootstrap interval (rliable's; one row: its seeds
# resampled) from this many seeds on: below it the bootstrap of a handful of values understates
# the spread, so the table says the interval is not given rather than print one.
CI_MIN_SEEDS = 5
CI_SAMPLES, CI_CONFIDENCE, CI_SEED = 50_000, 0.95, 0


@dataclass(frozen=True)
class Reference:
    """A figure to reach: published (`value`) or computed from the env config (`compute`)."""

    source: str
    value: float | None = None
    budget: int | None = None  # timesteps the figure was obtained with; None: any budget
    margin: float = 0.0  # reached when our mean across seeds >= value - margin
    compute: Callable[[DictConfig], float] | None = None

    def figure(self, cfg: DictConfig) -> float:
        return self.value if self.compute is None else self.compute(cfg)

    def threshold(self, figure: float | None = None) -> float:
        """The mean a pair must reach: its figure (the published value by default) less margin."""
        figure = self.value if figure is None else figure
        assert figure is not None, f"{self.source}: a computed reference needs its figure"
        return figure - self.margin


@dataclass(frozen=True)
class Row:
    algo: str
    env: str
    reference: Reference | None
    quick_budget: int | None = None  # n_timesteps in --quick; None: the shipped budget
    full_budget: int | None = None  # n_timesteps in full mode, for pairs without tuned hparams
    overrides: tuple[str, ...] = ()  # same in both modes (e.g. more evaluation episodes)
    full_seeds: int = 5
    in_quick: bool = True

    @property
    def key(self) -> str:
        return f"{self.algo}/{self.env}"


@dataclass
class Cell:
    """One (row, seed) run as recorded in MLflow."""

    row: str
    seed: int
    status: str  # FINISHED | FAILED | ...
    mean_reward: float | None = None
    timesteps: int | None = None
    wall_s: float | None = None
    optimum: float | None = None
    error: str | None = None
    budget: int | None = None  # n_timesteps asked for (a rollout may overshoot it)


@dataclass
class Plan:
    """What a row runs in this mode."""

    row: Row
    seeds: list[int]
    budget: int  # n_timesteps
    shipped: int  # n_timesteps of the shipped config
    hparams: str | None
    overrides: list[str] = field(default_factory=list)

    @property
    def reduced(self) -> bool:
        return self.budget < self.shipped


@dataclass
class RowStats:
    plan: Plan
    cells: list[Cell]
    reference: float | None = None  # the figure, resolved for this env config
    threshold: float | None = None

    @property
    def done(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "FINISHED" and c.mean_reward is not None]

    @property
    def returns(self) -> np.ndarray:
        return np.array([c.mean_reward for c in self.done], dtype=float)

    @property
    def mean(self) -> float:
        return mean_std(self.returns)[0] if len(self.returns) else math.nan

    @property
    def std(self) -> float:
        """Sample std across seeds; NaN (shown as —) for a single seed."""
        return mean_std(self.returns)[1] if len(self.returns) > 1 else math.nan

    @property
    def iqm(self) -> float:
        return float(interquartile_mean(self.returns)) if len(self.returns) else math.nan

    def iqm_ci(self) -> tuple[float, float] | None:
        """95% stratified-bootstrap interval of the IQM; None below CI_MIN_SEEDS seeds."""
        return iqm_interval(list(self.returns))

    @property
    def wall_s(self) -> float:
        walls = [c.wall_s for c in self.done if c.wall_s is not None]
        return float(np.mean(walls)) if walls else math.nan

    @property
    def steps_per_s(self) -> float:
        pairs = [(c.timesteps, c.wall_s) for c in self.done if c.timesteps and c.wall_s]
        return sum(t for t, _ in pairs) / sum(w for _, w in pairs) if pairs else math.nan

    @property
    def optimum(self) -> float | None:
        return next((c.optimum for c in self.cells if c.optimum), None)

    @property
    def pct_optimum(self) -> float | None:
        return 100 * self.mean / self.optimum if self.optimum and self.done else None

    def pct_optimum_text(self) -> str:
        """% of optimum, mean across seeds ± the 95% CI half-width (Student's t) from 2 seeds."""
        if self.pct_optimum is None or self.optimum is None:
            return "—"
        half = ci95(self.returns)
        spread = "" if math.isnan(half) else f" ± {100 * half / self.optimum:.1f}"
        return f"{self.pct_optimum:.1f}{spread}"

    def verdict(self) -> str:
        ref = self.plan.row.reference
        if ref is None or self.threshold is None:
            return "—"
        if not self.done:
            return "no (no finished run)"
        met = self.mean >= self.threshold
        if self.plan.reduced:
            return (
                f"no claim: reduced budget ({'met' if met else 'not met'}: ≥ {num(self.threshold)})"
            )
        if ref.budget is not None and self.plan.budget > ref.budget:
            return f"no claim: budget {self.plan.budget:,} > reference budget"
        if len(self.done) < len(self.cells):
            return "no (a seed failed)"
        return f"{'yes' if met else 'no'} (≥ {num(self.threshold)})"


def iqm_interval(values: list[float]) -> tuple[float, float] | None:
    """The IQM's 95% bootstrap interval over a row's seeds (None below CI_MIN_SEEDS)."""
    if len(values) < CI_MIN_SEEDS:
        return None
    _, low, high = stratified_bootstrap_ci(
        [values], aggregate_iqm, CI_SAMPLES, CI_CONFIDENCE, CI_SEED
    )
    return float(low), float(high)


def iqm_text(values: list[float]) -> str:
    """`495.0 [490.0, 500.0]`, or `495.0 (no CI: 3 seeds < 5)`; `—` without a value."""
    if not values:
        return "—"
    point = num(float(interquartile_mean(np.asarray(values, dtype=float))))
    interval = iqm_interval(values)
    if interval is None:
        return f"{point} (no CI: {len(values)} seed{'s' * (len(values) != 1)} < {CI_MIN_SEEDS})"
    return f"{point} [{num(interval[0])}, {num(interval[1])}]"


def resolve_references(stats: list[RowStats]) -> None:
    for s in stats:
        ref = s.plan.row.reference
        if ref is not None:
            s.reference = ref.figure(compose_cfg(s.plan.overrides))
            s.threshold = ref.threshold(s.reference)


def num(x: float | None, fmt: str | None = None) -> str:
    """Returns to a precision that suits their size: 500.0, -157.0, 7.93, 0.744."""
    if x is None or math.isnan(x):
        return "—"
    if fmt is None:
        fmt = ".1f" if abs(x) >= 100 else ".2f" if abs(x) >= 1 else ".3f"
    return format(x, fmt)


COLUMNS = [
    "algo",
    "env",
    "hparams",
    "seeds",
    "timesteps",
    "final eval mean ± std",
    "IQM [95% CI]",
    "per seed",
    "worst seed",
    "% of optimum (± 95% CI)",
    "wall s / seed",
    "steps/s",
    "reference (budget)",
    "reached?",
]


def _seed_value(s: RowStats, c: Cell) -> str:
    """`2866.4`, or with the task's optimum `2866.4 (98.3%)`."""
    pct = f" ({100 * c.mean_reward / s.optimum:.1f}%)" if s.optimum and c.mean_reward else ""
    return f"{num(c.mean_reward)}{pct}"


def per_seed(s: RowStats) -> str:
    """Every finished seed's closing evaluation, in seed order (with % of optimum where known)."""
    return ", ".join(_seed_value(s, c) for c in s.done) or "—"


def worst_seed(s: RowStats) -> str:
    """The seed with the lowest closing evaluation: `8002: 2757.6 (94.6%)`."""
    if not s.done:
        return "—"
    worst = min(s.done, key=lambda c: float(c.mean_reward or math.nan))
    return f"{worst.seed}: {_seed_value(s, worst)}"


def table(stats: list[RowStats]) -> str:
    """The matrix as a Markdown table (the README's bench block)."""
    cells = []
    for s in stats:
        p, ref = s.plan, s.plan.row.reference
        steps = f"{p.budget:,}" + (f" (cut from {p.shipped:,})" if p.reduced else "")
        failed = [c for c in s.cells if c not in s.done]
        seeds = f"{len(s.done)}/{len(p.seeds)}" + (" ✗" if failed else "")
        ref_text = "—"
        if ref is not None and s.reference is not None:
            ref_text = ref.source if ref.compute is None else f"{num(s.reference)}, {ref.source}"
            if s.optimum:
                ref_text += f" ({100 * s.reference / s.optimum:.1f}% of optimum)"
            ref_text += f"; budget {ref.budget // 1000}k" if ref.budget else ""
        cells.append(
            [
                p.row.algo,
                p.row.env,
                p.hparams or "defaults",
                seeds,
                steps,
                f"{num(s.mean)} ± {num(s.std)}",
                iqm_text(list(s.returns)),
                per_seed(s),
                worst_seed(s),
                s.pct_optimum_text(),
                num(s.wall_s, ".1f"),
                num(s.steps_per_s, ",.0f"),
                ref_text,
                s.verdict(),
            ]
        )
    return tables.markdown(COLUMNS, cells)


def errors(stats: list[RowStats]) -> list[str]:
    return [
        f"- {s.plan.row.key} seed {c.seed}: {c.status} {c.error or ''}".rstrip()
        for s in stats
        for c in s.cells
        if c not in s.done
    ]


def report(stats: list[RowStats], record: dict[str, Any]) -> str:
    """The table's page: heading, provenance, the table, how to read it, any failed run."""
    total_s = record.get("total_s")
    took = f" in {total_s / 60:.1f} min" if total_s is not None else ""
    out = [
        f"### {record.get('title', 'Matrix')} ({record.get('mode', 'full')}{took})",
        "",
        provenance_line(record),
        "",
        f"MLflow: experiment `{EXPERIMENT}`, filter `tags.\"bench.id\" = '{record['bench_id']}'`.",
        "",
        table(stats),
        "",
        "Final eval = the harness's closing evaluation of the final model "
        "(`final/mean_reward`); mean ± std (ddof=1) and IQM (`trim_mean(x, 0.25)`, no "
        "trimming below 4 seeds) across seeds, the IQM with its 95% bootstrap interval over "
        f"seeds (rliable's stratified bootstrap, {CI_SAMPLES:,} resamples) from "
        f"{CI_MIN_SEEDS} seeds on, none below. Reached = mean across seeds ≥ threshold "
        "(CartPole: 475; Pendulum: zoo mean − ½ its episode std; custom task: the best "
        "(s,S) policy; FrozenLake/Taxi: optimum − 0.03 / 0.5), within the reference budget. "
        "Zoo figures: one agent, ~150k evaluation steps (DLR-RM/rl-baselines3-zoo "
        "benchmark.md).",
    ]
    if errs := errors(stats):
        out += ["", "Failed runs:", *errs]
    return "\n".join(out) + "\n"
