"""Seeds raced, not all run: with k tuning seeds per trial (`hydra.sweeper.race: true`, the
default), a trial runs its seeds one after another, and its next seed only while it can still be
among the best.

    seed 0 ─▶ so far ≥ bar? ─▶ seed 1 ─▶ so far ≥ bar? ─▶ ... seed k-1 ─▶ COMPLETE
                   │ no                         │ no
                   ▼                            ▼
              PRUNED, `raced_out` = seeds run (never the winner, never re-tested)

The bar is set by the `top`-th best COMPLETE trial (`top` = validate.top, at least 1: the
trials the validation stage re-tests): its value (the aggregate over all k seeds), and its
aggregate over as many seeds as the trial has run, whichever is higher; while fewer trials are
complete, every trial runs on. So a trial whose seeds so far score below what it would have to
displace, or below it on the very seeds both ran, stops there, and a competitive one runs all k
seeds. The second, paired comparison (as irace races candidates on the instances both have
seen) stops a trial with one lucky seed: on CartPole a decent configuration reaches the cap of
500 on many seeds, so a first seed near it beats any 3-seed mean, and without the pairing such
trials ran a second and third seed only to fall back. Against a leader at the cap on the same
seed it cannot tell trials apart (a tie runs on; 499.97 is behind): those run their seeds, which
is what k seeds are for, and most of a raced sweep's extra cost on such a task.

Why this rule and not Optuna's WilcoxonPruner or successive halving: with k = 3-5 a Wilcoxon
signed-rank test over 1-2 paired seeds can never reach significance (its smallest one-sided p
with 2 pairs is 0.25), so it would never stop a trial; and successive halving keeps a fixed
fraction per rung, which either waits for a rung to fill (serialising the workers) or, run
asynchronously, keeps a third of the trials whatever the validation stage will look at. The bar
ties the race to what the loop selects: only a trial that could enter the re-tested top needs
its seeds. Every value compared is an aggregate of the same objective, so no score range needs
to be known.

Which trial runs its next seed first: a trial whose seeds so far are behind `top` others waits
while some of those others still run — a running trial is ahead when its aggregate over the same
number of seeds is better — so the likeliest winner completes first and sets the bar the rest
are raced against. Without it, two workers run the seeds of two or three trials to the end
before any bar exists, and each such trial costs k seeds where most would have stopped after
one. A waiting trial is not decided: once those ahead end, it runs on or is out of the race.
The trial with the most seeds done and the best aggregate among those never waits, so the
sweep always has a seed to run. Before any bar exists, a trial's second seed also waits until
`top` + 1 trials have scored their first (while another's first seed runs), so the first trial
to run all k is the best of those, not whichever finished its first seed first: two workers
otherwise ran the first two trials to the end, one of them often hopeless (sampler seed 1 of
the PPO CartPole benchmark: a trial at 9, 9, 9).

The decision is taken from the storage alone (seed results, trial states), when a seed finishes
and again by whichever worker next looks at the trial, so a worker killed between a seed's result
and the decision leaves nothing stranded: the next session decides.
"""

from __future__ import annotations

import math

from optuna.trial import FrozenTrial, TrialState

from rl_harness.tuning.objective import Aggregate, aggregate
from rl_harness.tuning.units import seed_open, seed_results

RACED_OUT = "raced_out"  # the user attr of a trial out of the race: how many seeds it ran


def done_prefix(trial: FrozenTrial) -> list[dict]:
    """The results of the trial's seeds in order, up to its first seed without one."""
    done = seed_results(trial)
    out = []
    for s in trial.user_attrs.get("seeds", []):
        if s not in done:
            break
        out.append(done[s])
    return out


def bar(trials: list[FrozenTrial], top: int, direction: str) -> float | None:
    """The value of the `top`-th best complete trial; None while fewer are complete."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    if len(values) < max(1, top):
        return None
    values.sort(reverse=direction == "maximize")
    return values[max(1, top) - 1]


def paired_bar(
    trials: list[FrozenTrial], top: int, direction: str, n: int, metric: str, how: Aggregate | str
) -> float | None:
    """The `top`-th best complete trial's aggregate over its first `n` seeds (ties: the
    earlier trial); None while fewer trials are complete."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if len(done) < max(1, top):
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    done.sort(key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]
    return _so_far(done[max(1, top) - 1], n, metric, how)


def _so_far(trial: FrozenTrial, n: int, metric: str, how: Aggregate | str) -> float | None:
    """The aggregate of the trial's first `n` seeds; None where fewer scored or one failed."""
    done = done_prefix(trial)[:n]
    if len(done) < n or any("error" in r for r in done):
        return None
    value = aggregate([r.get(metric, math.nan) for r in done], how)
    return value if math.isfinite(value) else None


def waits(
    trial: FrozenTrial,
    trials: list[FrozenTrial],
    metric: str,
    how: Aggregate | str,
    top: int,
    direction: str,
) -> bool:
    """Whether a running trial's next seed waits (module docstring): `top` or more trials are
    ahead of its seeds so far, and some of them still run. Its first seed never waits."""
    n = len(done_prefix(trial))
    mine = _so_far(trial, n, metric, how) if n else None
    if mine is None:
        return False

    def better(x: float) -> bool:
        return x > mine if direction == "maximize" else x < mine

    complete, running, scored, pending = 0, 0, 1, False
    for t in trials:
        if t.number == trial.number:
            continue
        if t.state == TrialState.COMPLETE and t.value is not None:
            complete += 1 if better(float(t.value)) else 0
            scored += 1
        elif t.state == TrialState.RUNNING and t.user_attrs.get("pruned_at") is None:
            theirs = _so_far(t, n, metric, how)
            running += theirs is not None and better(theirs)
            first = _so_far(t, 1, metric, how)
            scored += first is not None
            pending = pending or (first is None and not done_prefix(t))
    if pending and scored <= max(1, top) and bar(trials, top, direction) is None:
        return True  # no bar yet: the first to go on is the best of top + 1 first seeds
    return running > 0 and complete + running >= max(1, top)


def raced_out(
    trial: FrozenTrial,
    trials: list[FrozenTrial],
    k: int,
    metric: str,
    how: Aggregate | str,
    top: int,
    direction: str,
) -> bool:
    """Whether a running trial stops before its next seed: some of its seeds scored, the next
    one not started (or its worker died), and their aggregate is below the bar."""
    if trial.state != TrialState.RUNNING or trial.user_attrs.get("pruned_at") is not None:
        return False
    seeds = trial.user_attrs.get("seeds", [])
    done = done_prefix(trial)
    if not 0 < len(done) < k or len(seeds) != k or not seed_open(trial, seeds[len(done)]):
        return False
    so_far = _so_far(trial, len(done), metric, how)  # None: a failed seed fails the trial
    others = [t for t in trials if t.number != trial.number]
    level = bar(others, top, direction)
    if so_far is None or level is None:
        return False
    paired = paired_bar(others, top, direction, len(done), metric, how)
    levels = [level] if paired is None else [level, paired]
    return any(so_far < x if direction == "maximize" else so_far > x for x in levels)
