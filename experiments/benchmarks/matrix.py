"""Benchmark matrix: each (algo, env) pair with its shipped hyperparameters over several seeds,
trained through the harness itself (`train.run` on the composed config), into one MLflow
experiment; the markdown table is then built from what the MLflow store holds.

    python -m experiments.benchmarks.matrix --quick          # `make bench`: into .bench-quick/
    python -m experiments.benchmarks.matrix                  # `make bench-full`: shipped budgets
    python -m experiments.benchmarks.matrix --readme         # also refresh the docs' blocks
    python -m experiments.benchmarks.matrix --from-mlflow ID # rebuild a table from the store
    python -m experiments.benchmarks.matrix --jobs 2         # two cells at once (one per core)
    python -m experiments.benchmarks.matrix --id ID          # continue a stopped bench: finished
    #   cells are kept, stopped ones run first, each from its checkpoint in its run
    python -m experiments.benchmarks.matrix --quick --rows ppo/cartpole --max-steps 2048  # smoke
    python -m experiments.benchmarks.matrix --rows dqn/custom --budget-times 2  # twice the budget

Writes the record `<out>.json` (default experiments/results/bench_full.json: every cell of every
row, each row's config file and its hash) and its page `<out>.md`, rendered from it (`render`).

Per row: final evaluation return (the harness's closing evaluation, `final/mean_reward`) as mean
± std (ddof=1) and IQM (`scipy.stats.trim_mean(x, 0.25)`, which trims nothing below 4 seeds)
across seeds; timesteps; wall time of `train.run` per seed (build, training, periodic and final
evaluation, saving, MLflow logging; a seed stopped and continued: the sum of its pieces);
steps/s = timesteps / wall time; % of the exact optimum where the env has one; the reference
figure and whether we reached it. A row reaches its
reference when the mean across seeds is at least the reference's threshold, with a budget no
larger than the reference's; a row whose budget was cut for quick mode claims nothing.
All runs carry the tags `bench` (quick|full), `bench.id` and `bench.row`: in the MLflow UI,
experiment `bench`, filter `tags."bench.id" = '<id>'` shows the same runs and numbers.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from experiments.lib import pages, records
from experiments.lib.common import RESULTS, ROOT, pin_tracking_store
from experiments.lib.matrix import collect, gather, plan, record, run_matrix, stats_from_record
from experiments.lib.table import EXPERIMENT, Reference, Row, report, resolve_references
from rl_harness.common import seeds as seed_blocks
from rl_harness.config.runtime import to_plain
from rl_harness.tracking import runs as tracking

QUICK_DIR = ROOT / ".bench-quick"  # quick results: git-ignored, never published


def _best_s_s(cfg: DictConfig) -> float:
    from rl_harness.envs.inventory_heuristics import best_s_S

    return best_s_S(**to_plain(cfg.env.kwargs)).value


def _tabular_optimum(cfg: DictConfig) -> float:
    import gymnasium as gym

    from rl_harness.agents.tabular_optimum import optimum_summary

    env = gym.make(cfg.env.id, **(to_plain(cfg.env.kwargs) or {}))
    return optimum_summary(env, env.spec.max_episode_steps)["finite_horizon"]


# rl-baselines3-zoo benchmark.md (commit 0088472): one trained agent per pair, deterministic
# evaluation over ~150k steps (300 CartPole / 750 Pendulum episodes); mean ± std over episodes.
ZOO = "RL Zoo"
CARTPOLE_SOLVED = 25.0  # 500 - 25 = 475, Gymnasium's reward_threshold for CartPole-v1
SS = Reference("best (s,S) policy", compute=_best_s_s)  # envs/inventory_heuristics.py, exact


MATRIX: list[Row] = [
    Row(
        "ppo",
        "cartpole",
        Reference(f"{ZOO}: 500 ± 0", 500.0, 100_000, CARTPOLE_SOLVED),
        quick_budget=30_000,
    ),
    Row(
        "a2c",
        "cartpole",
        Reference(f"{ZOO}: 500 ± 0", 500.0, 500_000, CARTPOLE_SOLVED),
        quick_budget=60_000,
    ),
    Row(
        "dqn",
        "cartpole",
        Reference(f"{ZOO}: 500 ± 0", 500.0, 50_000, CARTPOLE_SOLVED),
        quick_budget=15_000,
    ),
    # Pendulum: reached within half the zoo's per-episode std of its mean.
    Row(
        "sac",
        "pendulum",
        Reference(f"{ZOO}: -157.0 ± 88.7", -156.995, 20_000, 88.714 / 2),
        quick_budget=2_000,
        overrides=("eval.episodes=20",),
    ),
    Row(
        "td3",
        "pendulum",
        Reference(f"{ZOO}: -151.9 ± 90.2", -151.855, 20_000, 90.227 / 2),
        quick_budget=11_000,
        overrides=("eval.episodes=20",),
    ),
    Row("ppo", "custom", SS, quick_budget=12_000),
    Row("dqn", "custom", SS, quick_budget=12_000),
    Row("qlearning", "custom", SS),
    Row("sac", "custom_continuous", SS, quick_budget=1_000),
    Row("tqc", "custom_continuous", SS, full_budget=20_000, in_quick=False),
    # Tabular: the finite-horizon optimum (rl_harness/tabular_optimum.py), tolerances as in
    # experiments/checks/qlearning_vs_optimum.py; 1000 evaluation episodes keep sampling noise
    # small.
    Row(
        "qlearning",
        "frozenlake",
        Reference("optimum within 100 steps", margin=0.03, compute=_tabular_optimum),
        overrides=("eval.episodes=1000",),
    ),
    Row(
        "qlearning",
        "taxi",
        Reference("optimum", margin=0.5, compute=_tabular_optimum),
        overrides=("eval.episodes=1000",),
    ),
]


def selected(rows: list[str] | None, quick: bool) -> list[Row]:
    chosen = [r for r in MATRIX if (r.in_quick or not quick) and (not rows or r.key in rows)]
    unknown = set(rows or []) - {r.key for r in MATRIX}
    if unknown:
        raise SystemExit(
            f"unknown rows {sorted(unknown)}; choose from {', '.join(r.key for r in MATRIX)}"
        )
    return chosen


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, reduced budgets (make bench)")
    ap.add_argument("--rows", nargs="+", help="only these rows, e.g. ppo/cartpole")
    ap.add_argument("--seeds", type=int, nargs="+", help="override the seeds of every row")
    ap.add_argument(
        "--jobs", type=int, default=1, help="cells trained at once, one process each (≤ cores)"
    )
    ap.add_argument("--max-steps", type=int, help="cap every budget (smoke tests)")
    ap.add_argument(
        "--budget-times", type=int, default=1, help="train N times the shipped budget (full mode)"
    )
    ap.add_argument("--from-mlflow", metavar="BENCH_ID", help="rebuild the table, train nothing")
    ap.add_argument("--id", help="the bench id to record under (rerun with it to continue)")
    ap.add_argument("--readme", action="store_true", help="refresh the docs' bench block")
    ap.add_argument("--out", type=Path, help="table file (default experiments/results/...)")
    ap.add_argument("--title", default="Matrix", help="the table's heading")
    ap.add_argument(
        "--outputs",
        type=Path,
        default=ROOT / "outputs" / "bench",
        help="run directories go under OUTPUTS/<bench id>/",
    )
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: give 1 or more cells at once")
    quick = args.quick or (args.from_mlflow or "").startswith("quick")
    mode = "quick" if quick else "full"
    if args.budget_times < 1 or (quick and args.budget_times != 1):
        ap.error(f"--budget-times {args.budget_times}: give 1 or more, in full mode only")
    if quick and args.readme:
        ap.error("--readme publishes full results only: quick ones stay out of the docs")
    plans = [  # the published tables train on report seeds: nothing was tuned on them
        plan(r, quick, args.seeds, args.max_steps, seed_blocks.REPORT, args.budget_times)
        for r in selected(args.rows, quick)
    ]
    pin_tracking_store()  # cells run in their own directories
    tracking.get_or_create_experiment(tracking.client(), EXPERIMENT)  # artifacts under this cwd
    total = None
    bench_id = args.from_mlflow or args.id or f"{mode}-{datetime.now():%Y%m%d-%H%M%S}"
    if not args.from_mlflow:
        start = time.perf_counter()
        run_matrix(plans, mode, bench_id, args.outputs / bench_id, args.jobs)
        total = time.perf_counter() - start
    stats = gather(plans, collect(bench_id), rebuilt=bool(args.from_mlflow))
    resolve_references(stats)
    out = args.out or (QUICK_DIR / "bench_quick.md" if quick else RECORD.with_suffix(".md"))
    command = (  # the seeds and rows select what a rebuild reads too: always named
        "python -m experiments.benchmarks.matrix"
        + (f" --from-mlflow {bench_id}" if args.from_mlflow else " --quick" if quick else "")
        + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds else "")
        + (f" --rows {' '.join(args.rows)}" if args.rows else "")
        + (f" --max-steps {args.max_steps}" if args.max_steps else "")
        + (f" --budget-times {args.budget_times}" if args.budget_times != 1 else "")
        + (f" --jobs {args.jobs}" if args.jobs > 1 and not args.from_mlflow else "")
        + (f" --id {args.id}" if args.id and not args.from_mlflow else "")
        + (f" --out {records.shown(out)}" if args.out else "")
        + (f' --title "{args.title}"' if args.title != "Matrix" else "")
    )
    facts = record(stats, bench_id, command, mode=mode, title=args.title, total_s=total)
    text = records.write(facts, out)
    print(text)
    print(f"written to {out} and its record {out.with_suffix('.json')}")
    if args.readme:
        pages.update_docs()


RECORD = RESULTS / "bench_full.json"  # full mode's record, unless --out names another


def render(data: dict[str, Any]) -> str:
    """The table's page, from its record alone (with the per-seed figure where it draws it)."""
    page = report(stats_from_record(data), data)
    out = records.option(data["command"], "--out")
    if out and Path(out).stem in SEED_FIGURE_RECORDS:
        page += f"\n![Every seed's % of optimum](experiments/results/{SEED_FIGURE.name})\n"
    return page


# The per-seed figure of the custom task: these records side by side, in this order (the
# report-seed records of the configs shipped before re-tuning for the worst seeds, then PPO's
# re-tuned config on the same 10 report seeds, then DQN's shipped config on them).
SEED_FIGURE = RESULTS / "report_custom_seeds.png"
SEED_FIGURE_RECORDS = (
    "report_custom_full",
    "report_custom_10seeds",
    "report_ppo_cvar",
    "report_dqn_10seeds",
)


def seed_values(data: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """Per row of a record (`ppo/custom`): each finished seed's % of the optimum."""
    out = {}
    for s in stats_from_record(data):
        if s.optimum and s.done:
            out[s.plan.row.key] = [(c.seed, 100 * float(c.mean_reward or 0) / s.optimum)
                                   for c in s.done]  # fmt: skip
    return out


def draw_seed_figure(results: Path = RESULTS, png: Path | None = None) -> Path | None:
    """SEED_FIGURE from the records of SEED_FIGURE_RECORDS that exist (None without one)."""
    from rl_harness.common import plots

    found = [results / f"{n}.json" for n in SEED_FIGURE_RECORDS if (results / f"{n}.json").exists()]
    if not found:
        return None
    drawn = []
    for path in found:
        data = records.load(path)
        drawn.append((f"{path.stem} ({data['bench_id']})", seed_values(data)))
    title = "Every seed's closing evaluation (dash: mean; label: the worst seed)"
    return plots.plot_per_seed(drawn, png or results / SEED_FIGURE.name, title)


if __name__ == "__main__":
    main()
