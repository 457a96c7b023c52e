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
- the loop's timesteps as a multiple of a plain one-seed sweep of the same trial count (an
  incumbent run reused from an earlier study, rl_harness/tuning/reuse.py, trains none: the
  table counts such runs).
One pair of studies is one draw of a noisy gap: with several sampler seeds, each seed runs its
own pair and a summary gives the mean gap of each k over the pairs with a 95% bootstrap CI, and
the ratio of the two means. The test figures are on validation seeds (5000-5004,
rl_harness.common.seeds.VALIDATION), the seeds the stage ranks on — by design, since this
measures the stage; the champion's test IQM is thus selected on them, not a report-seed figure.
Studies live in sweeps/<study>/ of the working directory; runs in its
MLflow store.

The record (experiments/lib/records.py; default experiments/results/validated_tuning/
<prefix>-<algo>-<env>.json, --out names another) holds one entry per sampler seed (a pair of
studies): every winner's tuning value and test values, the champion, the incumbent's test values,
the decision, the timesteps and the wall time, with the command and commit of the sitting that
ran it. Each finished pair is merged into the record at once, so pairs run in several sittings
(same settings; `--sampler-seeds 4 5 6 7` later) add up, and a stopped run keeps the pairs it
finished. The page, rendered from the record, summarises the pairs present and says how many of
the --of planned (16) they are.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
from rl_harness.common import seeds as seed_blocks
from rl_harness.common import stats, tables
from rl_harness.tuning import reuse, storage, units, validation
from rl_harness.tuning.objective import Aggregate
from rl_harness.tuning.results import trial_timesteps

HEADERS = [
    "sampler seed", "k", "winner", "tuning", "test IQM [95% CI]", "gap", "champion (test IQM)",
    "incumbent", "decision", "timesteps / plain sweep", "of which tuning",
    "trials complete / pruned (raced out)", "reused runs", "wall min",
]  # fmt: skip
ALIGN = "rrlrrrlrlrrlrr"
SETTINGS = ("algo", "env", "trials", "k", "workers", "top", "prefix", "overrides")


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
    number, tuning, test = winner_tests(study)
    test_iqm, ci = validation.iqm_ci(test)
    return number, tuning, test_iqm, ci


def winner_tests(study: optuna.Study) -> tuple[int, float, list[float]]:
    """The winner's number, tuning value and test values (one per validation seed)."""
    winner = study.best_trial
    jobs = units.job_results(study)
    prefix = f"retest_t{winner.number}_s"
    test = [r["last"] for label, r in sorted(jobs.items()) if label.startswith(prefix)]
    return winner.number, float(winner.value), test  # type: ignore[arg-type]


def timesteps(study: optuna.Study) -> tuple[int, int]:
    """The study's tuning timesteps, and those with its validation's (a reused incumbent run
    trained none: rl_harness.tuning.reuse)."""
    tuned = sum(trial_timesteps(t) for t in study.get_trials(deepcopy=False))
    return tuned, tuned + sum(reuse.new_timesteps(r) for r in units.job_results(study).values())


def study_entry(study: optuna.Study, top: int, wall: float | None) -> dict[str, Any]:
    """What the record keeps of one finished study: every per-seed value it is judged by."""
    number, tuning, test = winner_tests(study)
    checks = validation.Settings(top, 5, seed_blocks.VALIDATION.start, False, None, None)
    v = validation.report(study, checks, "last", Aggregate("mean"))
    tuned, spent = timesteps(study)
    trials = study.get_trials(deepcopy=False)
    return {
        "study": study.study_name,
        "winner": number,
        "tuning": tuning,
        "winner_seeds": [r.get("last") for r in units.seed_results(study.best_trial).values()],
        "test": test,
        "champion": v.champion.trial if v else None,
        "champion_test": v.champion.test if v else None,
        "incumbent_test": v.incumbent if v else None,
        "decision": validation.decide(v, promote=True)[1] if v else None,
        "timesteps_tuning": tuned,
        "timesteps_total": spent,
        "trials": {
            state: sum(t.state.name == state for t in trials)
            for state in ("COMPLETE", "PRUNED", "FAIL")
        },
        "raced_out": sum(t.user_attrs.get("raced_out") is not None for t in trials),
        "seed_jobs": sum(max(1, len(units.seed_results(t))) for t in trials),
        "reused_runs": sum(bool(r.get(reuse.REUSED)) for r in units.job_results(study).values()),
        "wall_s": wall,
    }


def pair_entry(
    args: argparse.Namespace, seed: int, walls: dict[int, float | None]
) -> dict[str, Any]:
    """One sampler seed's pair of studies, as the record keeps it."""
    return {
        "sampler_seed": seed,
        "studies": {
            str(k): study_entry(load(study_name(args, k, seed)), args.top, walls.get(k))
            for k in (args.k, 1)
        },
    }


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in SETTINGS}


def record_path(record: dict[str, Any]) -> Path:
    """Where a record's command writes it: --out, else by its prefix, algo and env."""
    command = record["command"]
    if out := records.option(command, "--out"):
        return (ROOT / out).with_suffix(".json")
    s = record["settings"]
    return RESULTS / "validated_tuning" / f"{s['prefix']}-{s['algo']}-{s['env']}.json"


def merged(
    old: dict[str, Any] | None, head: dict[str, Any], args: argparse.Namespace,
    pairs: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """The record with these pairs added (a pair run again replaces its entry); the header is
    this sitting's, and each pair keeps the command and commit of the sitting that ran it."""
    if old is not None and old["settings"] != settings(args):
        sys.exit(
            f"the record holds pairs with other settings ({json.dumps(old['settings'])}): "
            "use the same options, or another --out"
        )
    kept = {p["sampler_seed"]: p for p in (old or {}).get("pairs", [])}
    for p in pairs:
        kept[p["sampler_seed"]] = {**p, "command": head["command"], "commit": head["commit"]}
    return {
        **head,
        "settings": settings(args),
        "of": args.of,
        "validation_seeds": [seed_blocks.VALIDATION.start + i for i in range(5)],
        "pairs": [kept[s] for s in sorted(kept)],
    }


# ---------------------------------------------------------------- the page, from the record


def _iqm_ci(x: list[float]) -> tuple[float, tuple[float, float]]:
    return validation.iqm_ci(x)


def row(entry: dict[str, Any], seed: int, k: int, plain: int) -> list[Any]:
    test_iqm, ci = _iqm_ci(entry["test"])
    verdict = (entry["decision"] or "(not validated)").split(";")[0]
    champion = ""
    if entry["champion"] is not None:
        champion = f"trial {entry['champion']}: {_iqm_ci(entry['champion_test'])[0]:.1f}"
    incumbent = f"{_iqm_ci(entry['incumbent_test'])[0]:.1f}" if entry["incumbent_test"] else ""
    n = entry["trials"]
    wall = entry.get("wall_s")
    return [
        seed, k, f"trial {entry['winner']}", f"{entry['tuning']:.1f}",
        f"{test_iqm:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]", f"{entry['tuning'] - test_iqm:+.1f}",
        champion, incumbent, verdict, f"{entry['timesteps_total'] / plain:.2f}",
        f"{entry['timesteps_tuning'] / plain:.2f}",
        f"{n['COMPLETE']} / {n['PRUNED']} ({entry.get('raced_out', 0)})",
        entry.get("reused_runs", 0), "" if wall is None else f"{wall / 60:.1f}",
    ]  # fmt: skip


def summary_lines(pairs: list[dict[str, Any]], k: int) -> list[str]:
    """Per pair, the two winners side by side; then the mean gap of each k over the pairs with
    a 95% bootstrap CI, the timesteps as multiples of a plain sweep, and the ratio of the
    mean gaps (paired bootstrap over the pairs)."""
    ks = [str(k), "1"]
    found = {
        x: [(p["studies"][x]["winner"], p["studies"][x]["tuning"],
             _iqm_ci(p["studies"][x]["test"])[0]) for p in pairs]
        for x in ks
    }  # fmt: skip
    headers = ["sampler seed"]
    for x in ks:
        headers += [f"k={x} winner", "tuning", "test IQM", "gap"]
    rows = [
        [p["sampler_seed"], *(c for x in ks for c in _winner(found[x][i]))]
        for i, p in enumerate(pairs)
    ]
    lines = [tables.markdown(headers, rows, "r" + "lrrr" * len(ks)), ""]
    if len(pairs) < 2:
        return lines
    gaps = {x: np.array([tuning - test for _, tuning, test in f]) for x, f in found.items()}
    plain = np.array([p["studies"]["1"]["timesteps_tuning"] for p in pairs], dtype=float)
    lines.append("```")
    for x, g in gaps.items():
        low, high = stats.bootstrap_ci(g, np.mean, 2000, 0.95, 0)
        spent = np.array(
            [[p["studies"][x]["timesteps_tuning"], p["studies"][x]["timesteps_total"]]
             for p in pairs], dtype=float,
        )  # fmt: skip
        cost = (spent / plain[:, None]).mean(0)
        lines.append(
            f"k={x}: mean gap {g.mean():+.1f} [{low:+.1f}, {high:+.1f}] (95% CI); winners' mean "
            f"test IQM {np.mean([test for _, _, test in found[x]]):.1f}; timesteps "
            f"{cost[1]:.2f}x a plain sweep ({cost[0]:.2f}x tuning)"
        )
    n = len(pairs)
    ratio = gaps[str(k)].mean() / gaps["1"].mean()
    pick = np.random.default_rng(0).integers(0, n, (2000, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = gaps[str(k)][pick].mean(1) / gaps["1"][pick].mean(1)
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    lines.append(
        f"mean gap with k={k} / mean gap with k=1: {ratio:.2f} [{low:.2f}, {high:.2f}] "
        f"over {n} pairs"
    )
    lines.append("```")
    return lines


def _winner(w: tuple[int, float, float]) -> list[str]:
    number, tuning, test = w
    return [f"trial {number}", f"{tuning:.1f}", f"{test:.1f}", f"{tuning - test:+.1f}"]


def summary(args: argparse.Namespace) -> str:
    """The summary over the pairs of finished studies in sweeps/ (no record needed)."""
    pairs = [pair_entry(args, seed, {}) for seed in args.seeds]
    return "\n".join(summary_lines(pairs, args.k))


def render(record: dict[str, Any]) -> str:
    """The page, from the record alone."""
    s, pairs = record["settings"], record["pairs"]
    first, last = record["validation_seeds"][0], record["validation_seeds"][-1]
    extra = " ".join(s["overrides"])
    rows = []
    for p in pairs:
        plain = p["studies"]["1"]["timesteps_tuning"]
        for x in (str(s["k"]), "1"):
            rows.append(row(p["studies"][x], p["sampler_seed"], int(x), plain))
    sittings = sorted({(p["command"], p["commit"][:7]) for p in pairs})
    lines = [
        f"### Validated tuning: {s['algo']} on {s['env']}, k={s['k']} against k=1",
        "",
        records.provenance_line(record),
        "",
        f"{len(pairs)} of {record['of']} pairs (sampler seeds "
        f"{', '.join(str(p['sampler_seed']) for p in pairs)}); {s['trials']} trials per study, "
        f"{s['workers']} worker(s), top {s['top']} re-tested on validation seeds {first}-{last}"
        + (f"; overrides: `{extra}`" if extra else "") + ".",
        "",
        tables.markdown(HEADERS, rows, ALIGN),
        "",
        *summary_lines(pairs, int(s["k"])),
        "",
        "Pairs by sitting:",
        "",
        *(f"- `{cmd}` at {commit}: sampler seeds "
          f"{', '.join(str(p['sampler_seed']) for p in pairs if p['command'] == cmd)}"
          for cmd, commit in sittings),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
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
    parser.add_argument("--of", type=int, default=16, help="pairs the study plans in all")
    parser.add_argument("--out", type=Path, help="the record (default: by prefix, algo, env)")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for both studies")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error(f"--top {args.top}: the winner must be re-tested; give 1 or more")
    words = sys.argv[1:] if argv is None else argv
    head = records.header(" ".join(["python -m experiments.benchmarks.validated_tuning", *words]))
    path = record_path({"command": head["command"], "settings": settings(args)})
    for seed in args.seeds:
        walls: dict[int, float | None] = {}
        for k in (args.k, 1):
            walls[k] = run_study(args, k, seed)[1]
        old = records.load(path) if path.with_suffix(".json").exists() else None
        record = merged(old, head, args, [pair_entry(args, seed, walls)])
        text = records.write(record, path)
        print(f"sampler seed {seed}: done; {records.shown(path)} holds "
              f"{len(record['pairs'])} of {args.of} pairs", flush=True)  # fmt: skip
    print(text)
    print(f"\nstudies: sweeps/{args.prefix}-{args.algo}-{args.env}-k* in {Path.cwd()}")


if __name__ == "__main__":
    main()
