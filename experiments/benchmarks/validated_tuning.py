"""Validated tuning against a one-seed study: the winner's reproduction gap and the loop's cost.

    python -m experiments.benchmarks.validated_tuning --algo qlearning --env custom --trials 16
    python -m experiments.benchmarks.validated_tuning --algo ppo --env cartpole \
        --sampler-seeds 0 1 2

Runs (or, where they exist, resumes) two studies of the same search — the same sampler seed,
trials and validation (top 5, or --top, re-tested on 5 validation seeds, against the incumbent;
--top 1 re-tests only the winner, all the gap needs) — one with
k tuning seeds per trial, one with a single seed, then prints per study:
- the winner (best tuning value), its tuning score and its test IQM on the validation seeds, and
  the reproduction gap (tuning − test; the part of the winner's score that was seed luck);
- the champion (best test IQM) against the incumbent, and the decision;
- the loop's timesteps as a multiple of a plain one-seed sweep of the same trial count.
One pair of studies is one draw of a noisy gap: with several sampler seeds, each seed runs its
own pair and a summary gives the mean gap of each k over the pairs with a 95% bootstrap CI, and
the ratio of the two means. The test figures are on validation seeds (5000-5004,
rl_harness.common.seeds.VALIDATION), the seeds the stage ranks on — by design, since this
measures the stage; the champion's test IQM is thus selected on them, not a report-seed figure.
Studies live in sweeps/<study>/ of the working directory; runs in its
MLflow store.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna

from rl_harness.common import seeds as seed_blocks
from rl_harness.common import stats, tables
from rl_harness.tuning import storage, units, validation
from rl_harness.tuning.results import trial_timesteps

HEADERS = [
    "sampler seed", "k", "winner", "tuning", "test IQM [95% CI]", "gap", "champion (test IQM)",
    "incumbent", "decision", "timesteps / plain sweep", "of which tuning", "wall min (this call)",
]  # fmt: skip


def study_name(args: argparse.Namespace, k: int, seed: int) -> str:
    """Seed 0 keeps the name studies had before sampler seeds were an option."""
    return f"{args.prefix}-{args.algo}-{args.env}-k{k}" + (f"-seed{seed}" if seed else "")


def load(name: str) -> optuna.Study:
    return optuna.load_study(
        study_name=name, storage=storage.open_storage(f"sweeps/{name}/optuna.journal")
    )


def run_study(args: argparse.Namespace, k: int, seed: int) -> tuple[str, float]:
    """The study's name and the wall seconds this call spent on it."""
    study = study_name(args, k, seed)
    cmd = [
        sys.executable, "-m", "rl_harness", "-m", f"sweep={args.algo}", f"algo={args.algo}",
        f"env={args.env}", f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.seeds={k}",
        f"hydra.sweeper.sampler.seed={seed}", f"hydra.sweeper.study_name={study}",
        f"hydra.sweeper.n_workers={args.workers}", f"hydra.sweeper.validate.top={args.top}",
        *args.overrides,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return study, time.perf_counter() - start


def gap(study: optuna.Study) -> tuple[int, float, float, tuple[float, float]]:
    """The winner (best tuning value): its number, tuning score, test IQM and CI."""
    winner = study.best_trial
    jobs = units.job_results(study)
    test = [
        r["last"] for label, r in jobs.items() if label.startswith(f"retest_t{winner.number}_s")
    ]
    test_iqm, ci = validation.iqm_ci(test)
    return winner.number, float(winner.value), test_iqm, ci


def timesteps(study: optuna.Study) -> tuple[int, int]:
    """The study's tuning timesteps, and those with its validation's."""
    tuned = sum(trial_timesteps(t) for t in study.get_trials(deepcopy=False))
    return tuned, tuned + sum(int(r.get("timesteps", 0)) for r in units.job_results(study).values())


def row(args: argparse.Namespace, name: str, k: int, seed: int, wall: float, plain: int) -> list:
    study = load(name)
    number, tuning, test_iqm, ci = gap(study)
    checks = validation.Settings(args.top, 5, seed_blocks.VALIDATION.start, False, None, None)
    v = validation.report(study, checks, "last", "mean")
    tuned, spent = timesteps(study)
    verdict = validation.decide(v, promote=True)[1] if v else "(not validated)"
    return [
        seed,
        k,
        f"trial {number}",
        f"{tuning:.1f}",
        f"{test_iqm:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]",
        f"{tuning - test_iqm:+.1f}",
        f"trial {v.champion.trial}: {v.champion.test_iqm:.1f}" if v else "",
        f"{v.incumbent_iqm:.1f}" if v else "",
        verdict.split(";")[0],
        f"{spent / plain:.2f}",
        f"{tuned / plain:.2f}",
        f"{wall / 60:.1f}",
    ]


def summary(args: argparse.Namespace) -> str:
    """Per pair, the two winners side by side; then the mean gap of each k over the pairs with
    a 95% bootstrap CI, and the ratio of the means."""
    studies = {k: [load(study_name(args, k, s)) for s in args.seeds] for k in (args.k, 1)}
    found = {k: [gap(study) for study in pair] for k, pair in studies.items()}
    headers = ["sampler seed"]
    for k in found:
        headers += [f"k={k} winner", "tuning", "test IQM", "gap"]
    rows = [
        [seed, *(x for k in found for x in _winner(found[k][i]))]
        for i, seed in enumerate(args.seeds)
    ]
    lines = [tables.markdown(headers, rows, "r" + "lrrr" * len(found)), ""]
    gaps = {k: np.array([tuning - test for _, tuning, test, _ in f]) for k, f in found.items()}
    plain = [timesteps(study)[0] for study in studies[1]]
    for k, x in gaps.items():
        low, high = stats.bootstrap_ci(x, np.mean, 2000, 0.95, 0)
        spent = np.array([timesteps(study) for study in studies[k]])
        cost = (spent / np.array(plain)[:, None]).mean(0)
        lines.append(
            f"k={k}: mean gap {x.mean():+.1f} [{low:+.1f}, {high:+.1f}] (95% CI); winners' mean "
            f"test IQM {np.mean([test for _, _, test, _ in found[k]]):.1f}; timesteps "
            f"{cost[1]:.2f}x a plain sweep ({cost[0]:.2f}x tuning)"
        )
    ratio = gaps[args.k].mean() / gaps[1].mean()
    # paired bootstrap over the pairs (a pair's two studies share a sampler seed)
    pick = np.random.default_rng(0).integers(0, len(args.seeds), (2000, len(args.seeds)))
    low, high = np.nanpercentile(gaps[args.k][pick].mean(1) / gaps[1][pick].mean(1), [2.5, 97.5])
    lines.append(
        f"mean gap with k={args.k} / mean gap with k=1: {ratio:.2f} [{low:.2f}, {high:.2f}] "
        f"over {len(args.seeds)} pairs"
    )
    return "\n".join(lines)


def _winner(g: tuple[int, float, float, tuple[float, float]]) -> list[str]:
    number, tuning, test, _ = g
    return [f"trial {number}", f"{tuning:.1f}", f"{test:.1f}", f"{tuning - test:+.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="qlearning")
    parser.add_argument("--env", default="custom")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--top", type=int, default=5, help="trials re-tested (1: the winner)")
    parser.add_argument(
        "--sampler-seeds", dest="seeds", type=int, nargs="+", default=[0],
        help="one pair of studies per sampler seed",
    )  # fmt: skip
    parser.add_argument("--prefix", default="bench", help="studies <prefix>-<algo>-<env>-k<k>")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for both studies")
    args = parser.parse_args()
    if args.top < 1:
        parser.error(f"--top {args.top}: the winner must be re-tested; give 1 or more")
    rows = []
    for seed in args.seeds:
        runs = {k: run_study(args, k, seed) for k in (args.k, 1)}
        plain = timesteps(load(runs[1][0]))[0]
        rows += [row(args, name, k, seed, wall, plain) for k, (name, wall) in runs.items()]
        print(tables.markdown(HEADERS, rows[-2:], "rrlrrrlrlrrr"), flush=True)
    first = seed_blocks.VALIDATION.start
    print(
        f"\n{args.algo} on {args.env}, {args.trials} trials; validation seeds {first}-{first + 4}"
    )
    print(tables.markdown(HEADERS, rows, "rrlrrrlrlrrr"))
    if len(args.seeds) > 1:
        print("\n" + summary(args))
    print(f"\nstudies: sweeps/{args.prefix}-{args.algo}-{args.env}-k* in {Path.cwd()}")


if __name__ == "__main__":
    main()
