"""The docs' RL Zoo gate block (docs/zoo-gate.md): every run's record under
experiments/results/zoo_gate/ merged seed
by seed into one table (a pair's seeds from several runs, on machines whose stores are not here,
make one row), with each pair's IQM and P(seed > RL Zoo), their mean over pairs and the
performance profile; and the measured rates `--plan` estimates from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from experiments.gates import zoo_rates, zoo_stats
from experiments.gates.zoo_pairs import (
    COLUMNS,
    FIGURE,
    LONG_MINUTES,
    LONG_SEEDS,
    SEEDS,
    SHOWN,
    ZOO_SCORES,
    seeds_for,
)
from experiments.gates.zoo_table import count, derived, printed, shown, summary
from experiments.lib import records
from experiments.lib.common import RESULTS, ROOT
from experiments.lib.table import Plan, num
from rl_harness.common.seeds import REPORT


def record_paths(results: Path) -> list[Path]:
    """The gate's run records: results/zoo_gate/*.json."""
    return sorted((results / "zoo_gate").glob("*.json"))


def runs(results: Path) -> list[tuple[str, dict[str, Any]]]:
    """(run, its record) per record under results/zoo_gate/, in the order the runs' pages were
    written (their "Generated" stamps; a run's id need not sort by time)."""
    found = [(path.stem, records.load(path)) for path in record_paths(results)]
    return sorted(found, key=lambda kv: (stamp(kv[1]), kv[0]))


def stamp(record: dict[str, Any]) -> str:
    """When a run's page was written: its record's time, or for a record imported from a page
    the gate wrote before it wrote records, that page's ("2026-12-05 07:43")."""
    imported = record.get("imported")
    return imported["generated"] if imported else str(record.get("created", ""))[:16]


def source(record: dict[str, Any]) -> str:
    """A run's provenance, as its page says it (an imported record's: its page's own line)."""
    imported = record.get("imported")
    return imported["provenance"] if imported else records.provenance_line(record).strip("_")


def printed_rows(record: dict[str, Any]) -> list[list[str]]:
    """A run's rows as its page prints them, in COLUMNS' order: a gate record's rendered from
    its cells, an imported one's as the imported page printed them (their values rounded so)."""
    if "imported" in record:
        return [[row["printed"][c] for c in COLUMNS] for row in record["rows"]]
    from experiments.lib.matrix import stats_from_record  # loads the trainer: only here

    return [printed(s) for s in stats_from_record(record)]


def result_rows(results: Path) -> list[tuple[str, str, list[str]]]:
    """(run, its provenance line, its table's rows split into cells, in COLUMNS' order) per
    record of a gate run, in the order the runs were written (runs())."""
    return [
        (run, source(record), cells)
        for run, record in runs(results)
        for cells in printed_rows(record)
    ]


def seeds_of(cells: list[str]) -> dict[int, str]:
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
    trained is the later's, unless that one failed); else it replaces them. Where report seeds
    are among them, the seeds trained before the seed blocks (0-2) are left out. A seed counts
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
        for k, v in seeds_of(cells).items():
            if v != "failed" or seeds.get(k, ("failed",))[0] == "failed":
                seeds[k] = (v, v != "failed" and float(v) >= t, run, w)
    if any(k in REPORT for k in seeds):  # report seeds, once trained, make the row alone
        seeds = {k: v for k, v in seeds.items() if k in REPORT}
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
            num(sum(walls) / len(walls), ".0f") if walls else "—", ", ".join(runs)]  # fmt: skip


def merged_pairs(results: Path) -> dict[tuple[str, ...], list[str]]:
    """(algo, env) → its row merged over the runs' records (_merge)."""
    pairs: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for run, _, cells in result_rows(results):
        pairs.setdefault(tuple(cells[:2]), []).append((run, cells))
    return {k: _merge(v) for k, v in pairs.items()}


def held(p: Plan, pairs: dict[tuple[str, ...], list[str]]) -> list[int]:
    """The seeds of a pair that the runs' records hold (`pairs`: _pairs) at this plan's budget and
    config, finished: a run on a machine without their store trains the others (`--seeds`)."""
    cells = pairs.get((p.row.algo, p.row.env))
    if cells is None or cells[COLUMNS.index("hparams")] != (p.hparams or "defaults"):
        return []
    if not cells[COLUMNS.index("timesteps (RL Zoo's)")].startswith(f"{p.budget:,} "):
        return []
    return sorted(k for k, v in seeds_of(cells).items() if v != "failed")


def merged(results: Path = RESULTS) -> str:
    """The gate block: one table of every pair the gate's records hold, a pair's seeds from
    every run that trained it (_merge), with the runs they came from; then the pairs no file
    holds yet and those with fewer seeds than the gate's, so that a reader sees the gaps as
    well as the counts."""
    sources = {run: f"- `{run}`: {source}" for run, source, _ in result_rows(results)}
    moved = (
        "; commands as typed then: `experiments.bench_zoo_gate` is now `experiments.gates.zoo_gate`"
        if any("experiments.bench_zoo_gate" in line for line in sources.values())
        else ""
    )
    pairs = merged_pairs(results)
    values = merged_values(results, pairs)
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
    held = {k: report_seeds(c) for k, c in sorted(pairs.items())}
    timed = zoo_rates.minutes(results)
    keeps = {k for k in held if kept(pairs[k], timed)}
    long = [f"`{a}/{e}`" for (a, e) in sorted(keeps)]
    if long:
        pending += ["", f"Kept on the seeds of their first runs ({count(len(long), 'pair')}: "
                    f"a seed takes over {LONG_MINUTES:.0f} min here on one torch thread, as "
                    "experiments/results/zoo_gate_rates.md measures it, so "
                    f"{LONG_SEEDS} seeds not selected on suffice): {', '.join(long)}."]  # fmt: skip
    before = [f"`{a}/{e}`" for (a, e), seeds in held.items()
              if not seeds and (a, e) not in keeps]  # fmt: skip
    if before:
        pending += ["", f"Not yet on report seeds ({count(len(before), 'pair')}: their "
                    "rows hold seeds trained before the seed blocks): "
                    f"{', '.join(before)}."]  # fmt: skip
    short = [f"`{a}/{e}` ({', '.join(map(str, seeds))})" for (a, e), seeds in held.items()
             if seeds and wanted(pairs[a, e]) > 0]  # fmt: skip
    if short:
        pending += ["", f"Fewer report seeds than the gate's so far ({len(SEEDS)} a pair, "
                    f"{LONG_SEEDS} where a seed trains over {LONG_MINUTES:.0f} min here; "
                    f"{count(len(short), 'pair')}, their seeds in brackets, `--seeds` trains "
                    f"the others): {', '.join(short)}."]  # fmt: skip
    return "\n".join([
        "#### RL Zoo reproduction gate: results", "", "Runs (MLflow experiment `bench`, tag "
        "`bench.id`; each run's table in `experiments/results/zoo_gate/<run>.md`" + moved + "):",
        *sources.values(), "", head + "|", *(lines[k] for k in sorted(lines)), "",
        summary(reached, seeds, len(lines)), *overall(values),
        *pending,
    ]) + "\n"  # fmt: skip


def kept(cells: list[str], timed: dict[tuple[str, str], tuple[int, float]]) -> bool:
    """Whether a pair without report seeds keeps the seeds of its first runs: its seed takes
    over LONG_MINUTES on one thread here (`timed`: zoo_rates.minutes), and it has LONG_SEEDS
    of them finished (RL Zoo's configs were not tuned here: those seeds were not selected on)."""
    minutes = timed.get((cells[0], cells[1]))
    done = [k for k, v in seeds_of(cells).items() if v != "failed"]
    return (
        not report_seeds(cells)
        and minutes is not None
        and minutes[1] > LONG_MINUTES
        and len(done) >= LONG_SEEDS
    )


def report_seeds(cells: list[str]) -> list[int]:
    """The report seeds a merged row holds, finished."""
    return sorted(k for k, v in seeds_of(cells).items() if k in REPORT and v != "failed")


def wanted(cells: list[str]) -> int:
    """How many more report seeds a merged row wants: the gate's for a pair whose seed trains
    as long as the row's measured wall time says (seeds_for), less those it holds."""
    wall = _number(cells[COLUMNS.index("wall s / seed")])
    return len(seeds_for(None if wall is None else wall / 60)) - len(report_seeds(cells))


def merged_values(
    results: Path, pairs: dict[tuple[str, ...], list[str]] | None = None
) -> dict[tuple[str, ...], list[float]]:
    """Each merged pair's finished seeds' returns, unrounded where the gate's own record holds
    them (its runs newest first, as _merge takes a seed from the later run), as printed where
    only an imported page does: a pair's IQM and P(seed > RL Zoo) then equal its run's page."""
    raw: dict[tuple[str, str], dict[int, float]] = {}
    for run, record in runs(results):
        for row in [] if "imported" in record else record["rows"]:
            finished = {c["seed"]: float(c["mean_reward"]) for c in row["cells"]
                        if c["status"] == "FINISHED" and c["mean_reward"] is not None}  # fmt: skip
            raw[run, row["row"]] = finished
    out = {}
    for key, cells in (merged_pairs(results) if pairs is None else pairs).items():
        newest_first = cells[-1].split(", ")[::-1]
        found = [raw.get((run, "/".join(key)), {}) for run in newest_first]
        out[key] = [
            next((f[k] for f in found if k in f), float(v))
            for k, v in seeds_of(cells).items()
            if v != "failed"
        ]
    return out


def overall(values: dict[tuple[str, ...], list[float]]) -> list[str]:
    """The pairs' mean P(seed > RL Zoo) with its interval, the notes, and the profile's figure."""
    tasks = zoo_stats.normalized(values, {k: v[:2] for k, v in ZOO_SCORES.items()})
    if not tasks:
        return []
    point, low, high = zoo_stats.mean_over_pairs(tasks)
    return [
        "",
        f"P(seed > RL Zoo), the mean over {count(len(tasks), 'pair')}: {point:.2f} "
        f"[{low:.2f}, {high:.2f}] (95% stratified bootstrap over each pair's seeds). A pair's "
        "P(seed > RL Zoo) is the chance that a seed's closing evaluation beats an episode of RL "
        "Zoo's agent modelled as N(its mean, its std²), averaged over the seeds; IQM [95% CI]: "
        "the seeds' IQM, its interval from 5 seeds on. The performance profile: the fraction of "
        "runs whose P(seed > RL Zoo) exceeds τ, each pair weighing the same, with its 95% "
        "stratified bootstrap band (drawn from the result files by "
        "`python -m experiments.gates.zoo_gate --readme-only`).",
        "",
        f"![Performance profile of the RL Zoo gate]({FIGURE.relative_to(ROOT).as_posix()})",
    ]


def draw_profile(results: Path = RESULTS) -> Path:
    """The performance profile (FIGURE), drawn from the gate's records under results/."""
    values = merged_values(results)
    scores = {k: v[:2] for k, v in ZOO_SCORES.items()}
    path = results / FIGURE.name
    zoo_stats.profile_figure(zoo_stats.normalized(values, scores), path)
    return path


def publish(results: Path = RESULTS, blocks: dict[str, Path] | None = None) -> None:
    """The performance profile and the docs' generated blocks (the gate's among them; `blocks`:
    block name → page, default pages.BLOCKS), all from the records."""
    from experiments.lib import pages

    draw_profile(results)
    pages.update_docs(results, pages.BLOCKS if blocks is None else blocks)


def rates(results: Path = RESULTS) -> dict[tuple[str, str], float]:
    """Measured steps per second of one seed, per timed pair: its latest run's wall time, where
    that run trained report seeds or no timing (zoo_rates) holds the pair; else the timing's
    (the first runs' wall times do not hold at one thread)."""
    out, on_report = {}, set()
    for _, _, cells in result_rows(results):
        budget, wall = cells[COLUMNS.index("timesteps (RL Zoo's)")], cells[-1]
        if wall.replace(".", "", 1).isdigit() and float(wall) > 0:
            out[(cells[0], cells[1])] = int(budget.split()[0].replace(",", "")) / float(wall)
            if any(k in REPORT for k in seeds_of(cells)):
                on_report.add((cells[0], cells[1]))
    for pair, (steps, minutes) in zoo_rates.minutes(results).items():
        if pair not in on_report and minutes > 0:
            out[pair] = steps / (minutes * 60)
    return out
