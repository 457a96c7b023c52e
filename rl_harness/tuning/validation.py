"""After the search: re-test the best trials on seeds tuning never saw, and weigh the winner
(the champion) against the incumbent — the shipped `conf/hparams/<algo>_<env>.yaml`, or the
algorithm's defaults where none ships — on the same test seeds.

    top m trials by tuning value ──▶ n test seeds each ──▶ test IQM [bootstrap CI] ──▶ champion
    incumbent on the same n seeds ──▶ IQM [CI];  P(champion > incumbent) [CI] ──▶ promote?

Promotion needs the lower bound of the probability of improvement above 0.5 (and the user's
`promote=true`). With `validate.aggregate=objective` the re-tested trials are ranked by the
sweep's objective aggregate over the test seeds instead of their IQM (a lower quantile or CVaR:
objective.py), and the champion must also beat the incumbent on it, so it has to be better on
its bad seeds too; `iqm` (the default) ranks by test IQM and judges by the probability alone.
Scores are the sweep's objective metric per seed (objective.py), so a trial's
tuning value and its test IQM compare: their difference is the reproduction gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from rl_harness.common import seeds as blocks
from rl_harness.common import stats, tables
from rl_harness.errors import ConfigError
from rl_harness.tuning.objective import Aggregate
from rl_harness.tuning.units import Unit, job_results, seed_results, seeds

SAMPLES, CONFIDENCE, BOOT_SEED = 2000, 0.95, 0  # percentile bootstrap, fixed for repeatability
CI = tuple[float, float]


@dataclass(frozen=True)
class Settings:
    top: int  # trials re-tested (0: no validation)
    seeds: int  # test seeds
    seed_offset: int  # the first test seed
    promote: bool
    promote_to: str | None  # the hparams file promotion replaces (None: the shipped one)
    model_name: str | None  # registered name of the champion's model (None: <algo>-<env>)
    aggregate: str = "iqm"  # rank and judge by: iqm (test IQM) | objective (the sweep's)


JUDGED_BY = ("iqm", "objective")


def settings(options: Mapping[str, Any]) -> Settings:
    """`hydra.sweeper.validate`, checked: one-line errors naming the key."""
    allowed = {"top", "seeds", "seed_offset", "promote", "promote_to", "model_name", "aggregate"}
    if unknown := set(options) - allowed:
        raise ConfigError(
            f"hydra.sweeper.validate.{sorted(unknown)[0]} is not an option: "
            f"give {', '.join(sorted(allowed))}"
        )
    for key, low in (("top", 0), ("seeds", 1), ("seed_offset", 0)):
        value = options.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(
                f"hydra.sweeper.validate.{key} must be an integer ≥ {low}, got {value!r}"
            )
    if not isinstance(options.get("promote"), bool):
        raise ConfigError(
            f"hydra.sweeper.validate.promote must be true or false, got {options.get('promote')!r}"
        )
    if (judged_by := options.get("aggregate", "iqm")) not in JUDGED_BY:
        raise ConfigError(
            f"hydra.sweeper.validate.aggregate must be one of {', '.join(JUDGED_BY)}, "
            f"got {judged_by!r}"
        )
    o = options
    return Settings(
        o["top"],
        o["seeds"],
        o["seed_offset"],
        o["promote"],
        o.get("promote_to"),
        o.get("model_name"),
        str(judged_by),
    )


def check_seeds(s: Settings, base: int, k: int, n_envs: int, direction: str) -> None:
    """Tuning seeds [base, base+k) stay in the TUNING block and test seeds [offset, offset+n)
    in the VALIDATION block, each with the n_envs env seeds after it (rl_harness.common.seeds):
    a sweep never tunes or ranks on report seeds, which published figures keep unselected."""
    if not blocks.within(blocks.TUNING, base, k, n_envs):
        raise ConfigError(
            f"seed={base} with hydra.sweeper.seeds={k} and n_envs={n_envs} trains on seeds "
            f"{_spread(base, k, n_envs)}, {_outside(base, k, n_envs, 'tuning')}: sweeps tune "
            f"on seeds {blocks.span(blocks.TUNING)} only (rl_harness.common.seeds.TUNING)"
        )
    if not s.top:
        return
    if direction != "maximize":
        raise ConfigError(
            "hydra.sweeper.validate compares returns (direction=maximize); "
            "set hydra.sweeper.validate.top=0 to sweep without it"
        )
    n = s.seeds
    if not blocks.within(blocks.VALIDATION, s.seed_offset, n, n_envs):
        raise ConfigError(
            f"hydra.sweeper.validate.seed_offset={s.seed_offset} with validate.seeds={n} and "
            f"n_envs={n_envs} re-tests on seeds {_spread(s.seed_offset, n, n_envs)}, "
            f"{_outside(s.seed_offset, n, n_envs, 'validation')}: re-tests run on seeds "
            f"{blocks.span(blocks.VALIDATION)} only (rl_harness.common.seeds.VALIDATION)"
        )


def _spread(first: int, n: int, n_envs: int) -> str:
    envs = f" (their env seeds up to {first + n + n_envs - 2})" if n_envs > 1 else ""
    return f"{first}..{first + n - 1}{envs}"


def _outside(first: int, n: int, n_envs: int, own: str) -> str:
    """Where runs from `first` stray out of the `own` block: `into the report seeds`."""
    other = [b for b in blocks.reaches(first, n, n_envs) if b != own]
    return f"into the {' and '.join(other)} seeds" if other else "below 0"


def retested(study: optuna.Study, top: int) -> list[FrozenTrial]:
    """The top `top` complete trials by tuning value (ties: the earlier trial)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    done.sort(key=lambda t: (-float(t.value or -math.inf), t.number))
    return done[:top]


def units(study: optuna.Study, s: Settings) -> list[Unit]:
    """The validation jobs, in the order workers take them: the re-tests, then the incumbent."""
    test = seeds(s.seed_offset, s.seeds)
    jobs = [Unit("retest", x, t.number) for t in retested(study, s.top) for x in test]
    return jobs + [Unit("incumbent", x) for x in test] if jobs else []


@dataclass
class Row:
    trial: int
    tuning: float
    tuning_ci: CI
    test: list[float]
    test_iqm: float
    test_ci: CI
    test_seeds: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    test_score: float = math.nan  # the judging aggregate over the test seeds (test IQM: iqm)

    @property
    def gap(self) -> float:
        return self.tuning - self.test_iqm


@dataclass
class Validation:
    rows: list[Row]  # re-tested trials, best test IQM first
    incumbent: list[float]
    incumbent_iqm: float
    incumbent_ci: CI
    poi: float  # P(champion's run > incumbent's run)
    poi_ci: CI
    optimum: float | None
    run_ids: dict[str, str]  # job label → MLflow run id
    judged_by: Aggregate | None = None  # None: test IQM and the probability alone
    incumbent_score: float = math.nan  # the judging aggregate over the incumbent's test seeds

    @property
    def champion(self) -> Row:
        return self.rows[0]

    @property
    def significant(self) -> bool:
        return bool(self.poi_ci[0] > 0.5)


def iqm_ci(x: list[float]) -> tuple[float, CI]:
    low, high = stats.bootstrap_ci(x, stats.iqm, SAMPLES, CONFIDENCE, BOOT_SEED)
    return float(stats.iqm(np.asarray(x))), (float(low), float(high))


def tuning_ci(trial: FrozenTrial, metric: str, how: Aggregate) -> CI:
    """Across the trial's seeds (k ≥ 2); with one seed, the closing evaluation's CI (metric
    `last`), else none."""
    per_seed = [r[metric] for r in seed_results(trial).values() if metric in r]
    if len(per_seed) >= 2:
        low, high = stats.bootstrap_ci(per_seed, how, SAMPLES, CONFIDENCE, BOOT_SEED)
        return float(low), float(high)
    results = list(seed_results(trial).values())
    only = results[0] if len(results) == 1 else {}
    half = only.get("last_ci") if metric == "last" else None
    value = float(trial.value or math.nan)
    return (value - half, value + half) if half else (math.nan, math.nan)


def report(study: optuna.Study, s: Settings, metric: str, how: Aggregate) -> Validation | None:
    """The comparison, once every validation job has a result (None before, or with none);
    `how` also ranks and judges the re-tests where `s.aggregate` is `objective`."""
    judged_by = how if s.aggregate == "objective" else None
    score = judged_by or (lambda x: float(stats.iqm(np.asarray(x))))
    jobs, done = units(study, s), job_results(study)
    if not jobs or any(u.label not in done for u in jobs):
        return None
    ok = {label: r for label, r in done.items() if metric in r}
    test = seeds(s.seed_offset, s.seeds)
    rows = []
    for t in retested(study, s.top):
        ran = [x for x in test if Unit("retest", x, t.number).label in ok]
        if ran:
            scores = [ok[Unit("retest", x, t.number).label][metric] for x in ran]
            value, ci = iqm_ci(scores)
            tuning = float(t.value if t.value is not None else math.nan)
            row = Row(t.number, tuning, tuning_ci(t, metric, how), scores, value, ci, ran, t.params)
            row.test_score = float(score(scores))
            rows.append(row)
    labels = [Unit("incumbent", x).label for x in test]
    incumbent = [ok[label][metric] for label in labels if label in ok]
    if not rows or not incumbent:
        return None
    rows.sort(key=lambda r: (-r.test_score, r.trial))
    inc_iqm, inc_ci = iqm_ci(incumbent)
    poi = stats.probability_of_improvement(rows[0].test, incumbent)
    poi_ci = stats.improvement_ci(rows[0].test, incumbent, SAMPLES, CONFIDENCE, BOOT_SEED)
    optimum = next((r.get("optimum") for r in ok.values() if r.get("optimum")), None)
    run_ids = {label: r["run_id"] for label, r in ok.items() if r.get("run_id")}
    v = Validation(rows, incumbent, inc_iqm, inc_ci, poi, poi_ci, optimum, run_ids, judged_by)
    v.incumbent_score = float(score(incumbent))
    return v


def beats_incumbent(v: Validation) -> bool:
    """Whether the champion is significantly better than the incumbent (and, where a robust
    objective judges, also better by that aggregate): what promotion and the `champion` alias
    both require."""
    if not v.significant:
        return False
    return v.judged_by is None or v.champion.test_score > v.incumbent_score


def decide(v: Validation, promote: bool) -> tuple[bool, str]:
    """Whether to replace the incumbent, and the sentence that says why (or why not)."""
    p, (low, high) = v.poi, v.poi_ci
    odds = f"P(champion > incumbent) = {p:.2f} [{low:.2f}, {high:.2f}]"
    if math.isnan(low):
        return False, f"kept the incumbent: {odds}; judging needs at least 2 test seeds"
    if not v.significant:
        return False, f"kept the incumbent: {odds}; its lower bound is not above 0.5"
    if not beats_incumbent(v):
        return False, (
            f"kept the incumbent: {odds}, but the champion's {v.judged_by} over the test seeds "
            f"({v.champion.test_score:.4g}) is not above the incumbent's ({v.incumbent_score:.4g})"
        )
    if not promote:
        return False, (
            f"the champion (trial {v.champion.trial}) beats the incumbent: {odds}; "
            "hydra.sweeper.validate.promote=true would replace the shipped hparams"
        )
    return True, f"promoted trial {v.champion.trial}: {odds}"


def _fmt(x: float, ci: CI, optimum: float | None) -> str:
    text = f"{x:.4g} [{ci[0]:.4g}, {ci[1]:.4g}]" if not math.isnan(ci[0]) else f"{x:.4g}"
    return text + (f" ({100 * x / optimum:.1f}%)" if optimum else "")


def table(v: Validation, k: int, metric: str, how: Aggregate | str) -> str:
    """Per re-tested trial: tuning value vs test IQM (the reproduction gap), then the champion
    against the incumbent."""
    n, c, best = len(v.incumbent), v.champion, v.optimum
    headers = ["trial", f"tuning ({how} of {k} seed(s), {metric})", f"test IQM ({n} seeds)", "gap"]
    rows = [
        [
            r.trial,
            _fmt(r.tuning, r.tuning_ci, best),
            _fmt(r.test_iqm, r.test_ci, best),
            f"{r.gap:+.4g}",
        ]
        for r in v.rows
    ]
    rows.append(["incumbent", "", _fmt(v.incumbent_iqm, v.incumbent_ci, best), ""])
    if v.judged_by is not None:  # ranked and judged by the objective's aggregate
        headers.append(f"test {v.judged_by}")
        for row, r in zip(rows, v.rows, strict=False):
            row.append(_fmt(r.test_score, (math.nan, math.nan), best))
        rows[-1].append(_fmt(v.incumbent_score, (math.nan, math.nan), best))
    lines = [
        tables.markdown(headers, rows, "r" * len(headers)),
        "",
        f"champion: trial {c.trial}, test IQM {_fmt(c.test_iqm, c.test_ci, best)}; "
        f"incumbent {_fmt(v.incumbent_iqm, v.incumbent_ci, best)}; "
        f"P(champion > incumbent) = {v.poi:.2f} [{v.poi_ci[0]:.2f}, {v.poi_ci[1]:.2f}] "
        "(95% bootstrap CIs)"
        + (
            f"; test {v.judged_by}: champion {v.champion.test_score:.4g}, "
            f"incumbent {v.incumbent_score:.4g}"
            if v.judged_by is not None
            else ""
        ),
    ]
    return "\n".join(lines)


def metrics(v: Validation) -> dict[str, float]:
    """The comparison as MLflow metrics."""
    c = v.champion
    return {
        "champion/test_iqm": c.test_iqm,
        "champion/test_iqm_low": c.test_ci[0],
        "champion/test_iqm_high": c.test_ci[1],
        "champion/tuning": c.tuning,
        "champion/gap": c.gap,
        "incumbent/test_iqm": v.incumbent_iqm,
        "incumbent/test_iqm_low": v.incumbent_ci[0],
        "incumbent/test_iqm_high": v.incumbent_ci[1],
        "improvement/probability": v.poi,
        "improvement/low": v.poi_ci[0],
        "improvement/high": v.poi_ci[1],
    }


def typical_run(v: Validation) -> str | None:
    """The champion's test run whose score is nearest its IQM: the model to register."""
    c = v.champion
    pairs = [(abs(score - c.test_iqm), x) for score, x in zip(c.test, c.test_seeds, strict=True)]
    for _, x in sorted(pairs):
        if run := v.run_ids.get(Unit("retest", x, c.trial).label):
            return run
    return None
