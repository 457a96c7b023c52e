"""Every experiment that publishes scores trains on report seeds (rl_harness.common.seeds.REPORT),
so no published figure is on seeds a search selected on. Read from the scripts' source (AST): a
script that trains, or names seeds, either takes REPORT's (and writes no seed of its own) or is
listed in NOT_SCORES with why its table needs none."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
# Scripts that train or name seeds but publish no score that seeds could flatter.
NOT_SCORES = {
    "checks.bad_inputs": "feeds bad `seed=` values to the CLI to show its one-line errors",
    "benchmarks.checkpoint": "times checkpoints",
    "lib.common": "helpers: composes the configs the scripts pass it",
    "benchmarks.inventory_env": "times the inventory env's steps",
    "benchmarks.overhead": "times the harness against plain SB3",
    "benchmarks.qlearning": "times Q-learning's steps",
    "benchmarks.scaling": "times training against envs, threads and timesteps",
    "benchmarks.seed_threads": "times seeds at once against threads per seed",
    "benchmarks.serving": "times serving a small trained model",
    "benchmarks.sweep": "times sweeps (pruning, workers); tunes on tuning seeds, as sweeps do",
    "benchmarks.system_metrics": "times the system-metrics sampler",
    "lib.table": "renders the matrix's table (compose_cfg reads shipped budgets)",
    "benchmarks.tracking_load": "loads the tracking store",
    "gates.zoo_rates": "times a gate pair's seed on one thread",
    "benchmarks.validated_tuning": "measures the validation stage itself: its figures are on the "
    "validation seeds by design, and say so",
    "benchmarks.plain_sb3_ppo_cartpole": "the overhead benchmark's baseline: mirrors the "
    "harness's default run",
    "checks.resume_exactness": "compares a run with its stopped-and-resumed twin: same seed, any "
    "seed",
}
TRAINS = ("rl_harness.training", "rl_harness.agents", "stable_baselines3", "sb3_contrib")
SEED_TEXT = re.compile(r"(?<![\w.])seed=")
LITERAL_SEED_TEXT = re.compile(r"(?<![\w.])seed=\d")


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
    return out


def _texts(tree: ast.AST) -> list[str]:
    strings = (n for n in ast.walk(tree) if isinstance(n, ast.Constant))
    return [n.value for n in strings if isinstance(n.value, str)]


def _literal(node: ast.expr | None) -> bool:
    """An int, a list or tuple of them, or range(...) of constants: a seed the script picked."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, ast.List | ast.Tuple):
        return bool(node.elts) and all(_literal(e) for e in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("range", "list") and all(_literal(a) for a in node.args)
    return False


def own_seeds(tree: ast.AST) -> list[str]:
    """Seeds the script writes itself: `seed=0`, "seed=3" in an override, `--seeds` defaulting
    to a literal, `SEEDS = [0, 1, 2]`."""
    found = [f"seed={k.value.value}" for k in ast.walk(tree) if isinstance(k, ast.keyword)
             and k.arg == "seed" and isinstance(k.value, ast.Constant)]  # fmt: skip
    found += [repr(t) for t in _texts(tree) if LITERAL_SEED_TEXT.search(t)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Constant) and a.value in ("--seed", "--seeds") for a in node.args
        ):
            defaults = [k.value for k in node.keywords if k.arg == "default"]
            found += ["--seeds default" for d in defaults if _literal(d)]
        if isinstance(node, ast.Assign) and _literal(node.value):  # a list of seeds, not a count
            if isinstance(node.value, ast.Constant):
                continue
            found += [f"{t.id} = ..." for t in node.targets
                      if isinstance(t, ast.Name) and "SEED" in t.id.upper()]  # fmt: skip
    return found


def trains_or_names_seeds(tree: ast.AST) -> bool:
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return (
        any(m == t or m.startswith(t + ".") for m in _imports(tree) for t in TRAINS)
        or "compose_cfg" in names
        or any(isinstance(k, ast.keyword) and k.arg == "seed" for k in ast.walk(tree))
        or any(SEED_TEXT.search(t) or t in ("--seed", "--seeds") for t in _texts(tree))
    )


def takes_report_seeds(tree: ast.AST, passing: set[str]) -> bool:
    """REPORT named here, or SEEDS taken from an experiment that names it."""
    imported = _imports(tree)
    return any(isinstance(n, ast.Attribute) and n.attr == "REPORT" for n in ast.walk(tree)) or any(
        f"experiments.{p}.SEEDS" in imported for p in passing
    )


def problems(sources: dict[str, str]) -> dict[str, str]:
    """script → what is wrong, for scripts that train or name seeds and are not NOT_SCORES."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    direct = {n for n, t in trees.items() if takes_report_seeds(t, set())}
    out = {}
    for name, tree in trees.items():
        if name in NOT_SCORES or not trains_or_names_seeds(tree):
            continue
        if not takes_report_seeds(tree, direct):
            out[name] = "takes no seeds from rl_harness.common.seeds.REPORT"
        elif own := own_seeds(tree):
            out[name] = f"writes seeds of its own: {', '.join(own)}"
    return out


def scripts() -> dict[str, str]:
    """Every module under experiments/, by its dotted name there (`benchmarks.matrix`)."""
    return {
        ".".join(p.relative_to(EXPERIMENTS).with_suffix("").parts): p.read_text()
        for p in sorted(EXPERIMENTS.rglob("*.py"))
        if p.name != "__init__.py"
    }


def test_every_experiment_publishing_scores_trains_on_report_seeds() -> None:
    found = scripts()
    assert not (bad := problems(found)), bad
    assert not (stale := set(NOT_SCORES) - set(found)), f"NOT_SCORES names no script: {stale}"
    scored = {
        n for n in found if n not in NOT_SCORES and trains_or_names_seeds(ast.parse(found[n]))
    }
    assert {"benchmarks.matrix", "gates.zoo_gate", "checks.custom_optimality",
            "checks.qlearning_vs_optimum", "gates.plain_sb3_zoo",
            "lib.matrix"} <= scored  # fmt: skip


GOOD = """
from rl_harness.common import seeds
from rl_harness.training import train
ap.add_argument("--seeds", default=seeds.take(seeds.REPORT, 3))
"""


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("from rl_harness.training import train\nap.add_argument('--seeds', default=[0, 1, 2])",
         "takes no seeds"),
        ("cfg = compose_cfg(['algo=ppo', 'seed=0'])", "takes no seeds"),
        ("from stable_baselines3 import PPO\nPPO('MlpPolicy', env, seed=0)", "takes no seeds"),
        (GOOD + "cfg = compose_cfg(['algo=ppo', 'seed=0'])", "'seed=0'"),
        (GOOD + "SEEDS = [0, 1, 2]", "SEEDS = ..."),
        (GOOD.replace("seeds.take(seeds.REPORT, 3)", "list(range(5))") + "x = seeds.REPORT",
         "--seeds default"),
    ],
)  # fmt: skip
def test_the_check_catches_seeds_not_from_report(source: str, words: str) -> None:
    assert words in problems({"new_table": source}).get("new_table", "")


def test_the_check_passes_report_seeds_and_what_takes_them() -> None:
    gate = "from rl_harness.common import seeds\nSEEDS = seeds.take(seeds.REPORT, 3)\n"
    user = "from experiments.gate import SEEDS\nfrom stable_baselines3 import A2C\n"
    assert problems({"new_table": GOOD, "gate": gate, "user": user}) == {}
    assert "user" in problems({"user": user, "gate": gate.replace("REPORT", "TUNING")})
