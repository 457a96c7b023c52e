"""Validated tuning against a one-seed study: the winner's reproduction gap and the loop's cost.

    python -m experiments.bench_validated_tuning --algo qlearning --env custom --trials 16

Runs (or, where they exist, resumes) two studies of the same search — the same sampler seed,
trials and validation (top 5 re-tested on 5 unseen seeds, against the incumbent) — one with
k tuning seeds per trial, one with a single seed, then prints per study:
- the winner (best tuning value), its tuning score and its test IQM on the unseen seeds, and the
  reproduction gap (tuning − test; the part of the winner's score that was seed luck);
- the champion (best test IQM) against the incumbent, and the decision;
- the loop's timesteps as a multiple of a plain one-seed sweep of the same trial count.
Studies live in sweeps/<study>/ of the working directory; runs in its MLflow store.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import optuna

from rl_harness.common import tables
from rl_harness.tuning import sweep, validation
from rl_harness.tuning.results import trial_timesteps


def run_study(args: argparse.Namespace, k: int) -> tuple[str, float]:
    """The study's name and the wall seconds this call spent on it."""
    study = f"{args.prefix}-{args.algo}-{args.env}-k{k}"
    cmd = [
        sys.executable, "-m", "rl_harness", "-m", f"sweep={args.algo}", f"algo={args.algo}",
        f"env={args.env}", f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.seeds={k}",
        "hydra.sweeper.sampler.seed=0", f"hydra.sweeper.study_name={study}",
        f"hydra.sweeper.n_workers={args.workers}", *args.overrides,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return study, time.perf_counter() - start


def row(name: str, k: int, wall: float, plain: int) -> list[object]:
    study = optuna.load_study(
        study_name=name, storage=sweep.open_storage(f"sweeps/{name}/optuna.journal")
    )
    trials = study.get_trials(deepcopy=False)
    winner = study.best_trial
    jobs = sweep.job_results(study)
    test = [
        r["last"] for label, r in jobs.items() if label.startswith(f"retest_t{winner.number}_s")
    ]
    test_iqm, ci = validation.iqm_ci(test)
    checks = validation.Settings(5, 5, 5000, False, None, None)
    v = validation.report(study, checks, "last", "mean")
    tuned = sum(trial_timesteps(t) for t in trials)
    spent = tuned + sum(int(r.get("timesteps", 0)) for r in jobs.values())
    verdict = validation.decide(v, promote=True)[1] if v else "(not validated)"
    return [
        k,
        f"trial {winner.number}",
        f"{winner.value:.1f}",
        f"{test_iqm:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]",
        f"{winner.value - test_iqm:+.1f}",
        f"trial {v.champion.trial}: {v.champion.test_iqm:.1f}" if v else "",
        f"{v.incumbent_iqm:.1f}" if v else "",
        verdict.split(";")[0],
        f"{spent / plain:.2f}",
        f"{tuned / plain:.2f}",
        f"{wall / 60:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="qlearning")
    parser.add_argument("--env", default="custom")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--prefix", default="bench", help="studies <prefix>-<algo>-<env>-k<k>")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for both studies")
    args = parser.parse_args()
    runs = {k: run_study(args, k) for k in (args.k, 1)}
    one = optuna.load_study(
        study_name=runs[1][0], storage=sweep.open_storage(f"sweeps/{runs[1][0]}/optuna.journal")
    )
    plain = sum(trial_timesteps(t) for t in one.get_trials(deepcopy=False))
    headers = [
        "k", "winner", "tuning", "test IQM [95% CI]", "gap", "champion (test IQM)",
        "incumbent", "decision", "timesteps / plain sweep", "of which tuning",
        "wall min (this call)",
    ]  # fmt: skip
    rows = [row(name, k, wall, plain) for k, (name, wall) in runs.items()]
    print(f"{args.algo} on {args.env}, {args.trials} trials, sampler seed 0; test seeds 5000-5004")
    print(tables.markdown(headers, rows, "rllrrllrrrr"))
    print(f"\nstudies: {', '.join(f'sweeps/{n}' for n, _ in runs.values())} in {Path.cwd()}")


if __name__ == "__main__":
    main()
