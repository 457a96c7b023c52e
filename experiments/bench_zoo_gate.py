"""RL Zoo reproduction gate: our shipped configs, trained at RL Zoo's budget on several seeds,
against the score RL Zoo publishes for the pair. A seed succeeds when its final evaluation
reaches RL Zoo's mean minus half its per-episode std; a pair reports "k of n seeds succeed".

    python -m experiments.bench_zoo_gate                         # every pair below, 3 seeds
    python -m experiments.bench_zoo_gate --rows ars/cartpole ppo/mountaincar_continuous
    python -m experiments.bench_zoo_gate --max-minutes 5         # pairs a seed trains in ≤ 5 min
    python -m experiments.bench_zoo_gate --plan                  # estimated minutes per seed
    python -m experiments.bench_zoo_gate --from-mlflow ID --readme   # table from the store
    python -m experiments.bench_zoo_gate --readme-only   # README's table from the result files
    python -m experiments.bench_zoo_gate --rows A B --id X --jobs 2   # stopped: rerun it to go on
    # two processes, one table: --rows A B --id X --threads 1 & --rows C D --id X --threads 1,
    #   then --from-mlflow X
    # another machine, the seeds X left:  --rows A --seeds 8001 8002 --id Y  (README joins them)

RL Zoo's figures (DLR-RM/rl-baselines3-zoo `benchmark.md`, commit 22e3ff2) come from one
trained agent per pair, evaluated deterministically over ~150k steps; its LunarLander rows were
trained on -v2, ours is -v3 (same task; v3 fixed the wind and reset bugs). Each seed here is
scored by the harness's closing evaluation (`final/mean_reward`: 30 episodes on evaluation seeds
that training never uses). The runs go to the MLflow experiment `bench` with the tags
`bench=zoo-gate`, `bench.id`, `bench.row`, as the benchmark matrix's (bench_matrix.py) do.
Each run writes experiments/results/zoo_gate/<bench id>.md; README's table merges those files
seed by seed (a pair's seeds from several runs make one row; a seed trained twice counts as the
later-written file's unless that one failed), since each run's store stays on its machine, which
a later sitting may not get back. Seeds trained at once share the cores: each gets
cores // --jobs torch threads (--threads).

Beyond the count (experiments/zoo_gate_stats.py, after rliable): each pair's IQM over its seeds
(a 95% bootstrap interval from 5 seeds on), P(seed > RL Zoo) (the chance that a seed's closing
evaluation beats an episode of RL Zoo's agent, modelled as normal with the mean and std RL Zoo
publishes, averaged over the seeds), their mean over pairs with a stratified bootstrap interval,
and a performance profile, experiments/results/zoo_gate_profile.png, which `--readme` and
`--readme-only` draw from the result files.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from experiments import zoo_gate_stats as zs
from experiments.bench_common import RESULTS, ROOT, pin_tracking_store, provenance
from experiments.bench_matrix import _client, collect, gather, plan, run_matrix
from experiments.bench_table import (
    EXPERIMENT,
    Cell,
    Plan,
    Reference,
    Row,
    RowStats,
    _num,
    iqm_text,
)
from rl_harness.common import seeds as seed_blocks
from rl_harness.common import tables
from rl_harness.common.processes import threads_each
from rl_harness.tracking import runs as tracking

MODE = "zoo-gate"
# (algo, our env) → RL Zoo's mean and per-episode std, and the budget of its agent.
ZOO_SCORES: dict[tuple[str, str], tuple[float, float, int]] = {
    ("a2c", "acrobot"): (-83.353, 17.213, 500_000),
    ("a2c", "cartpole"): (500.0, 0.0, 500_000),
    ("a2c", "lunarlander"): (155.751, 80.419, 200_000),
    ("a2c", "lunarlander_continuous"): (84.225, 145.906, 5_000_000),
    ("a2c", "mountaincar"): (-111.263, 24.087, 1_000_000),
    ("a2c", "mountaincar_continuous"): (91.166, 0.255, 100_000),
    ("a2c", "pendulum"): (-162.965, 103.210, 1_000_000),
    ("ars", "acrobot"): (-82.884, 23.825, 500_000),
    ("ars", "cartpole"): (500.0, 0.0, 50_000),
    ("ars", "lunarlander_continuous"): (167.959, 147.071, 2_000_000),
    ("ars", "mountaincar"): (-122.0, 33.456, 500_000),
    ("ars", "mountaincar_continuous"): (96.672, 0.784, 500_000),
    ("ars", "pendulum"): (-212.540, 160.444, 2_000_000),
    ("ddpg", "lunarlander_continuous"): (230.217, 92.372, 300_000),
    ("ddpg", "mountaincar_continuous"): (93.512, 0.048, 300_000),
    ("ddpg", "pendulum"): (-152.099, 94.282, 20_000),
    ("dqn", "acrobot"): (-76.639, 11.752, 100_000),
    ("dqn", "cartpole"): (500.0, 0.0, 50_000),
    ("dqn", "lunarlander"): (154.382, 79.241, 100_000),
    ("dqn", "mountaincar"): (-100.849, 9.925, 120_000),
    ("ppo", "acrobot"): (-73.506, 18.201, 1_000_000),
    ("ppo", "cartpole"): (500.0, 0.0, 100_000),
    ("ppo", "lunarlander"): (242.119, 31.823, 1_000_000),
    ("ppo", "lunarlander_continuous"): (270.863, 32.072, 1_000_000),
    ("ppo", "mountaincar"): (-110.423, 19.473, 1_000_000),
    ("ppo", "mountaincar_continuous"): (88.343, 2.572, 20_000),
    ("ppo", "pendulum"): (-172.225, 104.159, 100_000),
    ("qrdqn", "acrobot"): (-69.135, 9.967, 100_000),
    ("qrdqn", "cartpole"): (500.0, 0.0, 50_000),
    ("qrdqn", "lunarlander"): (70.236, 225.491, 100_000),
    ("qrdqn", "mountaincar"): (-106.042, 15.536, 120_000),
    ("sac", "lunarlander_continuous"): (260.390, 65.467, 500_000),
    ("sac", "mountaincar_continuous"): (94.679, 1.134, 50_000),
    ("sac", "pendulum"): (-156.995, 88.714, 20_000),
    ("td3", "lunarlander_continuous"): (207.451, 67.562, 300_000),
    ("td3", "mountaincar_continuous"): (93.483, 0.075, 300_000),
    ("td3", "pendulum"): (-151.855, 90.227, 20_000),
    ("tqc", "lunarlander_continuous"): (277.956, 25.466, 500_000),
    ("tqc", "mountaincar_continuous"): (63.641, 45.259, 50_000),
    ("tqc", "pendulum"): (-151.340, 87.893, 20_000),
    ("trpo", "acrobot"): (-83.114, 18.648, 100_000),
    ("trpo", "cartpole"): (500.0, 0.0, 100_000),
    ("trpo", "lunarlander"): (133.166, 112.173, 200_000),
    ("trpo", "lunarlander_continuous"): (262.387, 21.428, 200_000),
    ("trpo", "mountaincar"): (-107.278, 13.231, 100_000),
    ("trpo", "mountaincar_continuous"): (92.489, 0.355, 50_000),
    ("trpo", "pendulum"): (-174.631, 127.577, 100_000),
}
SEEDS = seed_blocks.take(seed_blocks.REPORT, 3)  # report seeds: nothing was tuned on them
# Scored by the closing evaluation alone (periodic evaluations cost time here). A checkpoint
# every 100k steps, and one when stopped, lets a seed of hours continue after a stop or a crash.
OVERRIDES = ("eval.freq=0", "checkpoint.freq=100000", "checkpoint.keep=1")
# Steps per second of one seed here for an algorithm the result files have not timed yet
# (README's bench table: PPO 2.1k, A2C 3.7k, DQN 820, SAC 59, TD3 115 on CartPole / Pendulum;
# guessed from those for the others). A timed pair uses its own measured rate (rates()).
STEPS_PER_S = {"a2c": 1500, "ppo": 1500, "trpo": 1500, "ars": 3000, "dqn": 800, "qrdqn": 800,
               "sac": 70, "td3": 120, "ddpg": 120, "tqc": 50}  # fmt: skip


def rows() -> list[Row]:
    out = []
    for (algo, env), (mean, std, budget) in ZOO_SCORES.items():
        ref = Reference(f"RL Zoo: {_num(mean)} ± {_num(std)}", mean, budget, std / 2)
        out.append(Row(algo, env, ref, overrides=OVERRIDES, full_seeds=len(SEEDS)))
    return out


def succeeded(s: RowStats) -> int:
    assert s.threshold is not None
    return sum(c.mean_reward is not None and c.mean_reward >= s.threshold for c in s.done)


RULE = (
    "A seed reaches it when its closing evaluation (30 episodes on unseen seeds) is at least RL "
    "Zoo's mean − ½ its per-episode std (DLR-RM/rl-baselines3-zoo benchmark.md, one agent per "
    "pair). Timesteps: the shipped config's budget, RL Zoo's in brackets."
)
COLUMNS = ["algo", "env", "hparams", "timesteps (RL Zoo's)", "per seed", "RL Zoo",
           "threshold", "seeds that reach it", "wall s / seed"]  # fmt: skip
# What the tables show: COLUMNS, as every result file records them, and two columns computed
# from a pair's seeds (derived()), read back from no file. The files read by the header's names.
SHOWN = ["algo", "env", "hparams", "timesteps (RL Zoo's)", "per seed", "IQM [95% CI]", "RL Zoo",
         "P(seed > RL Zoo)", "threshold", "seeds that reach it", "wall s / seed"]  # fmt: skip
FIGURE = RESULTS / "zoo_gate_profile.png"


def derived(values: list[float], algo: str, env: str) -> list[str]:
    """A pair's IQM [95% CI] and P(seed > RL Zoo) cells, from its finished seeds' returns."""
    mean, std, _ = ZOO_SCORES[algo, env]
    return [iqm_text(values), _num(zs.p_beats_zoo(values, mean, std), ".2f")]


def shown(cells: list[str], extra: list[str]) -> list[str]:
    """A row in SHOWN's order from its COLUMNS cells and its derived() ones."""
    by_name = dict(zip(COLUMNS, cells, strict=True)) | dict(
        zip(["IQM [95% CI]", "P(seed > RL Zoo)"], extra, strict=True)
    )
    return [by_name[c] for c in SHOWN]


def apart(seeds: list[float], threshold: float) -> tuple[list[str], str]:
    """A row's seeds and threshold, with decimals enough that a seed just short of the threshold
    does not print equal to it (94.110 against 94.112, not 94.11 against 94.11)."""
    decimals = base = len(_num(threshold).partition(".")[2])
    while decimals < 6 and any(
        x < threshold and format(x, f".{decimals}f") == format(threshold, f".{decimals}f")
        for x in seeds
    ):
        decimals += 1
    if decimals == base:
        return [_num(x) for x in seeds], _num(threshold)
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


def table(stats: list[RowStats]) -> str:
    lines = []
    for s in stats:
        p, ref = s.plan, s.plan.row.reference
        assert ref is not None and ref.budget is not None and s.threshold is not None
        failed = len(s.cells) - len(s.done)
        seeds, threshold = per_seed(s.cells, s.threshold)
        lines.append(shown([
            p.row.algo, p.row.env, p.hparams or "defaults",
            f"{p.budget:,} ({ref.budget:,})", seeds,
            ref.source, f"≥ {threshold}",
            f"{succeeded(s)} of {len(s.cells)}" + (f" ({failed} failed)" if failed else ""),
            _num(s.wall_s, ".0f"),
        ], derived(list(s.returns), p.row.algo, p.row.env)))  # fmt: skip
    return tables.markdown(SHOWN, lines)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def summary(reached: int, seeds: int, pairs: int) -> str:
    counted = f"{reached:,} of {_count(seeds, 'seed')} over {_count(pairs, 'pair')}"
    return f"{counted} {'reaches' if reached == 1 else 'reach'} RL Zoo's score. {RULE}"


def report(stats: list[RowStats], bench_id: str, command: str) -> str:
    reached = sum(succeeded(s) for s in stats)
    seeds = sum(len(s.cells) for s in stats)
    return "\n".join([
        f"#### RL Zoo reproduction gate: {bench_id}", "", provenance(command), "",
        f"MLflow: experiment `{EXPERIMENT}`, filter `tags.\"bench.id\" = '{bench_id}'`.", "",
        table(stats), "",
        summary(reached, seeds, len(stats)),
    ]) + "\n"  # fmt: skip


def _stamp(text: list[str]) -> str:
    """When a result file was written ("_Generated 2026-12-05 07:43 by ..."; "" if it says not)."""
    line = next((line for line in text if line.startswith("_Generated ")), "")
    return line.removeprefix("_Generated ")[:16]


def _split(line: str) -> list[str]:
    return line.removeprefix("| ").removesuffix(" |").split(" | ")


def _result_lines(results: Path) -> list[tuple[str, str, list[str]]]:
    """(run, its provenance line, its table's rows split into cells, in COLUMNS' order) per
    result file, in the order they were written (their "Generated" stamps; a run's id need not
    sort by time). Cells are found by the header's names: files written before SHOWN's
    derived columns read as those after."""
    out = []
    texts = {path: path.read_text().splitlines() for path in (results / "zoo_gate").glob("*.md")}
    for path, text in sorted(texts.items(), key=lambda kv: (_stamp(kv[1]), kv[0].name)):
        source = next((line.strip("_") for line in text if line.startswith("_Gen")), "")
        start = next(i for i, line in enumerate(text) if line.startswith("| algo | env |"))
        names = _split(text[start])
        for line in text[start + 2 :]:
            if not line.startswith("| "):
                break
            cells = _split(line)
            out.append((path.stem, source, [cells[names.index(c)] for c in COLUMNS]))
    return out


def _seeds(cells: list[str]) -> dict[int, str]:
    """A printed row's seeds: seed → its printed return, or "failed" (per_seed's forms; what
    reads as no number, such as "—", counts as failed too)."""
    entries = cells[COLUMNS.index("per seed")].split(", ")
    if entries[0].startswith("s"):
        pairs = [e.split(" ", 1) for e in entries]
        seeds = {int(k[1:]): v for k, v in pairs}
    else:
        seeds = dict(enumerate(e for e in entries if e))
    return {k: v if _number(v) is not None else "failed" for k, v in seeds.items()}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _merge(rows: list[tuple[str, list[str]]]) -> list[str]:
    """One pair's printed rows, oldest run first, as one row with its runs: a later run's seeds
    join the earlier runs' where it trained the same config at the same budget (a seed both
    trained is the later's, unless that one failed); else it replaces them. A seed counts
    against its own row's printed threshold, which per_seed prints so that the comparison
    holds."""
    hp, steps, thr, wall = (COLUMNS.index(c) for c in ("hparams", "timesteps (RL Zoo's)",
                                                       "threshold", "wall s / seed"))  # fmt: skip
    kept: list[tuple[str, list[str]]] = []
    for run, cells in rows:
        if kept and kept[-1][1][hp : steps + 1] != cells[hp : steps + 1]:
            kept = []
        kept.append((run, cells))
    seeds: dict[int, tuple[str, bool, str, float | None]] = {}  # value, reached, run, wall
    for run, cells in kept:
        t, w = float(cells[thr].removeprefix("≥ ")), _number(cells[wall])
        for k, v in _seeds(cells).items():
            if v != "failed" or seeds.get(k, ("failed",))[0] == "failed":
                seeds[k] = (v, v != "failed" and float(v) >= t, run, w)
    order = sorted(seeds)
    failed = sum(seeds[k][0] == "failed" for k in order)
    if order == list(range(len(order))) and not failed:
        printed = ", ".join(seeds[k][0] for k in order)
    else:
        printed = ", ".join(f"s{k} {seeds[k][0]}" for k in order)
    threshold = max((c[thr] for _, c in kept), key=lambda x: len(x.partition(".")[2]))
    walls = [w for v, _, _, w in seeds.values() if v != "failed" and w is not None]
    runs = [run for run, _ in kept if any(seeds[k][2] == run for k in order)]
    reach = f"{sum(seeds[k][1] for k in order)} of {len(order)}"
    last = kept[-1][1]
    return [*last[:steps + 1], printed, last[steps + 2], threshold,
            reach + (f" ({failed} failed)" if failed else ""),
            _num(sum(walls) / len(walls), ".0f") if walls else "—", ", ".join(runs)]  # fmt: skip


def _pairs(results: Path) -> dict[tuple[str, ...], list[str]]:
    """(algo, env) → its row merged over the result files (_merge)."""
    pairs: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for run, _, cells in _result_lines(results):
        pairs.setdefault(tuple(cells[:2]), []).append((run, cells))
    return {k: _merge(v) for k, v in pairs.items()}


def held(p: Plan, pairs: dict[tuple[str, ...], list[str]]) -> list[int]:
    """The seeds of a pair that the result files hold (`pairs`: _pairs) at this plan's budget and
    config, finished: a run on a machine without their store trains the others (`--seeds`)."""
    cells = pairs.get((p.row.algo, p.row.env))
    if cells is None or cells[COLUMNS.index("hparams")] != (p.hparams or "defaults"):
        return []
    if not cells[COLUMNS.index("timesteps (RL Zoo's)")].startswith(f"{p.budget:,} "):
        return []
    return sorted(k for k, v in _seeds(cells).items() if v != "failed")


def merged(results: Path = RESULTS) -> str:
    """README's block: one table of every pair the gate's result files hold, a pair's seeds from
    every run that trained it (_merge), with the runs they came from; then the pairs no file
    holds yet and those with fewer seeds than the gate's, so that a reader sees the gaps as
    well as the counts."""
    sources = {run: f"- `{run}`: {source}" for run, source, _ in _result_lines(results)}
    pairs = _pairs(results)
    values = {k: _values(cells) for k, cells in pairs.items()}
    lines = {
        k: "| " + " | ".join([*shown(cells[:-1], derived(values[k], *k)), cells[-1]]) + " |"
        for k, cells in pairs.items()
    }
    reach = COLUMNS.index("seeds that reach it")
    counts = [re.search(r"(\d+) of (\d+)", cells[reach]) for cells in pairs.values()]
    reached, seeds = (sum(int(m.group(i)) for m in counts if m) for i in (1, 2))
    head = "| " + " | ".join([*SHOWN, "run"]) + " |\n|" + "|".join(["---"] * (len(SHOWN) + 1))
    missing = [f"`{a}/{e}`" for a, e in ZOO_SCORES if (a, e) not in lines]
    pending = [
        "",
        f"Not yet trained ({len(missing)} of the gate's {len(ZOO_SCORES)} pairs; `--plan` "
        f"estimates each): {', '.join(missing)}."
    ] if missing else []  # fmt: skip
    short = [f"`{a}/{e}` ({', '.join(map(str, _seeds(c)))})" for (a, e), c in sorted(pairs.items())
             if len(_seeds(c)) < len(SEEDS)]  # fmt: skip
    if short:
        pending += ["", f"Fewer than {len(SEEDS)} seeds so far ({_count(len(short), 'pair')}; "
                    f"their seeds in brackets, `--seeds` trains the others): "
                    f"{', '.join(short)}."]  # fmt: skip
    return "\n".join([
        "#### RL Zoo reproduction gate: results", "", "Runs (MLflow experiment `bench`, tag "
        "`bench.id`; each run's table in `experiments/results/zoo_gate/<run>.md`):",
        *sources.values(), "", head + "|", *(lines[k] for k in sorted(lines)), "",
        summary(reached, seeds, len(lines)), *overall(values),
        *pending,
    ]) + "\n"  # fmt: skip


def _values(cells: list[str]) -> list[float]:
    """A merged row's finished seeds' returns, as its files print them."""
    return [float(v) for v in _seeds(cells).values() if v != "failed"]


def overall(values: dict[tuple[str, ...], list[float]]) -> list[str]:
    """The pairs' mean P(seed > RL Zoo) with its interval, the notes, and the profile's figure."""
    tasks = zs.normalized(values, {k: v[:2] for k, v in ZOO_SCORES.items()})
    if not tasks:
        return []
    point, low, high = zs.mean_over_pairs(tasks)
    return [
        "",
        f"P(seed > RL Zoo), the mean over {_count(len(tasks), 'pair')}: {point:.2f} "
        f"[{low:.2f}, {high:.2f}] (95% stratified bootstrap over each pair's seeds). A pair's "
        "P(seed > RL Zoo) is the chance that a seed's closing evaluation beats an episode of RL "
        "Zoo's agent modelled as N(its mean, its std²), averaged over the seeds; IQM [95% CI]: "
        "the seeds' IQM, its interval from 5 seeds on. The performance profile: the fraction of "
        "runs whose P(seed > RL Zoo) exceeds τ, each pair weighing the same, with its 95% "
        "stratified bootstrap band (drawn from the result files by "
        "`python -m experiments.bench_zoo_gate --readme-only`).",
        "",
        f"![Performance profile of the RL Zoo gate]({FIGURE.relative_to(ROOT).as_posix()})",
    ]


def publish(results: Path = RESULTS, readme: Path = ROOT / "README.md") -> None:
    """README's gate block and the performance profile, both from the result files."""
    pairs = _pairs(results)
    values = {k: _values(cells) for k, cells in pairs.items()}
    zs.profile_figure(zs.normalized(values, {k: v[:2] for k, v in ZOO_SCORES.items()}),
                      results / FIGURE.name)  # fmt: skip
    update_readme(merged(results), readme)


def rates(results: Path = RESULTS) -> dict[tuple[str, str], float]:
    """Measured steps per second of one seed, per timed pair (its latest run)."""
    out = {}
    for _, _, cells in _result_lines(results):
        budget, wall = cells[COLUMNS.index("timesteps (RL Zoo's)")], cells[-1]
        if wall.replace(".", "", 1).isdigit() and float(wall) > 0:
            out[(cells[0], cells[1])] = int(budget.split()[0].replace(",", "")) / float(wall)
    return out


def update_readme(text: str, readme: Path = ROOT / "README.md") -> None:
    start, end = "<!-- zoo-gate:start -->\n", "<!-- zoo-gate:end -->"
    body = readme.read_text()
    if start not in body or end not in body:
        raise SystemExit(f"{readme} has no {start.strip()} … {end} block")
    head, rest = body.split(start, 1)
    readme.write_text(head + start + text + end + rest.split(end, 1)[1])


def selected(keys: list[str] | None) -> list[Row]:
    every = rows()
    if unknown := set(keys or []) - {r.key for r in every}:
        raise SystemExit(f"unknown rows {sorted(unknown)}; choose from the pairs in {__file__}")
    return [r for r in every if not keys or r.key in keys]


def steps_per_s(measured: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Every pair's estimated steps per second here: a timed pair's own; else from seconds per
    step fitted once (non-negative least squares) as an algorithm's cost plus an env's over the
    timed pairs (SAC's gradient steps dominate; PPO's LunarLander physics do); else
    STEPS_PER_S."""
    algos, envs = sorted({a for a, _ in measured}), sorted({e for _, e in measured})
    design = np.zeros((len(measured), len(algos) + len(envs)))
    for i, (algo, env) in enumerate(measured):
        design[i, algos.index(algo)] = design[i, len(algos) + envs.index(env)] = 1
    cost = nnls(design, 1 / np.array(list(measured.values())))[0] if measured else []
    out = {}
    for algo, env in ZOO_SCORES:
        if (algo, env) in measured:
            out[algo, env] = measured[algo, env]
        elif algo in algos and env in envs:
            out[algo, env] = 1 / float(cost[algos.index(algo)] + cost[len(algos) + envs.index(env)])
        else:
            out[algo, env] = STEPS_PER_S[algo]
    return out


def minutes(p: Plan, rate: dict[tuple[str, str], float]) -> float:
    """A seed's estimated training time here."""
    return p.budget / rate[p.row.algo, p.row.env] / 60


def settled(cells: list[Cell], bench_id: str) -> list[Cell]:
    """The cells that finished or failed: a seed stopped part-way (KILLED, its checkpoint kept)
    or still training waits for its rerun, and is no failure of the table built meanwhile."""
    for c in cells:
        if c.status in ("KILLED", "RUNNING"):
            print(f"[zoo-gate] {c.row} seed {c.seed}: {c.status}, not in the table until it "
                  f"finishes (rerun with --id {bench_id})")  # fmt: skip
    return [c for c in cells if c.status not in ("KILLED", "RUNNING")]


def main(argv: list[str] | None = None) -> list[RowStats]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", help="only these pairs, e.g. ars/cartpole")
    ap.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    ap.add_argument("--max-minutes", type=float, help="only pairs whose seed fits (estimated)")
    ap.add_argument(
        "--plan",
        action="store_true",
        help="print the pairs and their estimated minutes per seed, train nothing",
    )
    ap.add_argument("--id", help="the bench id to record under (rerun with it to continue)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained at once, one process each")
    ap.add_argument("--threads", type=int, help="torch threads a seed (default: cores // jobs)")
    ap.add_argument("--from-mlflow", metavar="BENCH_ID", help="rebuild the table, train nothing")
    ap.add_argument("--readme", action="store_true", help="then refresh README's zoo-gate block")
    ap.add_argument("--readme-only", action="store_true", help="only refresh it, from the files")
    ap.add_argument("--out", type=Path, help="default: experiments/results/zoo_gate/<id>.md")
    ap.add_argument("--outputs", type=Path, default=ROOT / "outputs" / "bench")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs {args.jobs}: give 1 or more seeds at once")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads {args.threads}: give 1 or more")
    if args.readme_only:
        publish()
        return []
    plans = [plan(r, False, args.seeds, None) for r in selected(args.rows)]
    for p in plans:  # the cores, shared by the seeds at once (experiments/bench_seed_threads.py)
        p.overrides.append(f"torch_threads={args.threads or threads_each(args.jobs)}")
    rate = steps_per_s(rates())
    if args.max_minutes is not None:
        plans = [p for p in plans if minutes(p, rate) <= args.max_minutes]
    if args.plan:
        pairs = _pairs(RESULTS)
        for p in plans:
            have = held(p, pairs)
            note = f"  (result files hold seeds {', '.join(map(str, have))})" if have else ""
            print(
                f"{p.row.key:32} {p.budget:>10,} steps  ~{minutes(p, rate):6.1f} min / seed{note}"
            )
        return []
    pin_tracking_store()
    tracking.get_or_create_experiment(_client(), EXPERIMENT)
    bench_id = args.from_mlflow or args.id or f"{MODE}-{datetime.now():%Y%m%d-%H%M%S}"
    if not args.from_mlflow:
        start = time.perf_counter()
        run_matrix(plans, MODE, bench_id, args.outputs / bench_id, args.jobs)
        print(f"[zoo-gate] {len(plans)} pairs in {(time.perf_counter() - start) / 60:.1f} min")
    stats = gather(plans, settled(collect(bench_id), bench_id), rebuilt=bool(args.from_mlflow))
    for s in stats:
        ref = s.plan.row.reference
        assert ref is not None and ref.value is not None
        s.reference, s.threshold = ref.value, ref.threshold()
    command = "python -m experiments.bench_zoo_gate " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = report(stats, bench_id, command.strip())
    out = args.out or RESULTS / "zoo_gate" / f"{bench_id}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    if args.readme:
        publish()
    return stats


if __name__ == "__main__":
    main()
