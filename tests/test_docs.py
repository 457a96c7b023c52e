"""The documentation site: its generated tables come from conf/ and cannot leave a key or a file
out, and the site builds with --strict, with the evidence and the API reference in it.

The generators (docs/hooks/) are loaded from their files, as MkDocs loads its hooks.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "docs" / "hooks"


def load(name: str) -> ModuleType:
    """A module of docs/hooks/, registered under its own name (the hook imports its siblings)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


config_keys = load("config_keys")
algo_table = load("algo_table")
harness_docs = load("harness_docs")


# ---------------------------------------------------------------- the configuration page


def dotted(node: object, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out |= {f"{prefix}{k}"} | dotted(v, f"{prefix}{k}.")
    return out


def test_every_key_of_config_yaml_is_documented_with_its_default_and_a_meaning() -> None:
    path = ROOT / "conf" / "config.yaml"
    found = {k.path: k for k in config_keys.keys(path)}
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert dotted(loaded) - {"defaults"} <= set(found)
    assert {"defaults.algo", "defaults.env", "defaults.hparams", "eval.final.precision"} <= set(
        found
    )
    assert found["eval.final.episodes"].default == "30"
    assert found["defaults.algo"].default == "ppo"
    # a comment continued on the lines below, aligned with it, is one meaning
    assert found["eval.final.precision"].meaning.endswith("of the optimum (0: exactly `episodes`)")
    leaves = [k for k in found.values() if k.default]
    assert all(k.meaning for k in leaves)
    table = config_keys.table(path)
    assert table.count("\n| `") == len(found)
    assert "&lt;algo&gt;" in table and "<algo>" not in table  # no raw HTML from a comment


def test_comments_above_a_key_and_continuation_lines_are_its_meaning(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "# the file's header: the defaults list's meaning\n"
        "defaults:\n  - _self_\n  - algo: ppo   # the algorithm\n\n"
        "a: 1          # first line\n              # second line\n"
        "b:\n  # above c\n  c: x    # c's own comment wins\n"
        "  # above d\n  d: '#not a comment'\n"
    )
    found = {k.path: k.meaning for k in config_keys.keys(path)}
    assert found == {
        "defaults": "the file's header: the defaults list's meaning",
        "defaults.algo": "the algorithm",
        "a": "first line second line",
        "b": "",
        "b.c": "c's own comment wins",
        "b.d": "above d",
    }


def test_a_key_without_a_meaning_stops_the_build_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1   # documented\nnested:\n  b: 2\n")
    with pytest.raises(config_keys.ConfigDocError, match=r"c.yaml: no comment .* nested\.b "):
        config_keys.keys(path)


def test_a_key_the_line_reader_misses_is_an_error_not_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: {x: 1,\n    y: 2}   # a flow mapping over two lines\n")
    with pytest.raises(config_keys.ConfigDocError, match=r"c.yaml"):
        config_keys.keys(path)


# ---------------------------------------------------------------- the algorithms page


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_hparams_file_is_a_row_with_its_provenance_and_gate_result(tmp_path: Path) -> None:
    for algo in ("ppo", "recurrent_ppo"):
        write(tmp_path / "algo" / f"{algo}.yaml", f"name: {algo}\n")
    hp = tmp_path / "hparams"
    write(hp / "ppo_pong.yaml", "# @package _global_\n# Converted from RL Zoo 2.9.2, "
          "hyperparams/ppo.yml, key atari (RL Zoo's block; here Pong)\n# (python -m "
          "rl_harness.config.zoo rewrites this file)\nn_envs: 8\n")  # fmt: skip
    write(hp / "recurrent_ppo_pong.yaml", "# @package _global_\n# Champion of Optuna study "
          "'s': trial 3, test IQM 2.5 [1.0, 3.0];\n# incumbent 2.0.\nn_envs: 8\n")  # fmt: skip
    write(hp / "ppo_cartpole.yaml", "# RL Zoo's tuned PPO (hyperparams/ppo.yml). More.\n")
    table = algo_table.table(tmp_path, {("ppo", "cartpole"): "3 of 3 seeds"}, "gate.md")
    rows = table.splitlines()[2:]
    assert rows == [
        "| ppo | cartpole | `ppo_cartpole.yaml` | by hand: RL Zoo's tuned PPO "
        "(hyperparams/ppo.yml) | [3 of 3 seeds](gate.md) |",
        "| ppo | pong | `ppo_pong.yaml` | converted: RL Zoo 2.9.2, hyperparams/ppo.yml, key "
        "atari (RL Zoo's block; here Pong) | — |",
        "| recurrent_ppo | pong | `recurrent_ppo_pong.yaml` | validated tuning: Optuna study "
        "'s': trial 3, test IQM 2.5 [1.0, 3.0] | — |",
    ]
    assert algo_table.counts(tmp_path) == "3 files: 1 converted, 1 validated tuning, 1 by hand"
    write(hp / "muzero_pong.yaml", "# By hand.\n")
    with pytest.raises(algo_table.AlgoTableError, match="muzero_pong.yaml: starts with no alg"):
        algo_table.table(tmp_path, {}, "gate.md")


def test_the_shipped_table_has_every_hparams_file() -> None:
    table = algo_table.table(ROOT / "conf", {}, "gate.md")
    files = sorted(p.name for p in (ROOT / "conf" / "hparams").glob("*.yaml"))
    assert sorted(re.findall(r"\| `(\w+\.yaml)` \|", table)) == files


def test_a_generated_block_is_filled_and_an_unknown_one_stops_the_build() -> None:
    page = "# Configuration\n\n<!-- generated: config-keys -->\n\nafter\n"
    out = harness_docs.generate(page, "configuration.md")
    assert "| `eval.final.precision` |" in out and out.endswith("\nafter\n")
    with pytest.raises(Exception, match=r"page.md: unknown generated block 'nope' \(known: "):
        harness_docs.generate("<!-- generated: nope -->\n", "page.md")


def test_the_evidence_files_join_the_site_but_its_markdown_pages_are_included() -> None:
    found = harness_docs.evidence_files()
    assert "experiments/ui/runs_list.png" in found
    assert "experiments/results/zoo_gate_profile.png" in found
    assert not [f for f in found if f.endswith(".md")]


# ---------------------------------------------------------------- the built site


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` as `make docs-build` runs it (from the repository root)."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strict_with_generated_tables_evidence_and_the_api(tmp_path: Path) -> None:
    proc = build(ROOT / "mkdocs.yml", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "experiments" / "ui" / "runs_list.png").is_file()
    assert not (tmp_path / "hooks").exists()
    config = (tmp_path / "configuration.html").read_text()
    assert "eval.final.precision" in config and "generated:" not in config
    algorithms = (tmp_path / "algorithms.html").read_text()
    assert re.search(r"<code>a2c_acrobot\.yaml</code>.*?of 3 seeds</a>", algorithms, re.S)
    assert "185 of 328 entries converted" in algorithms  # the conversion record, included
    api = (tmp_path / "reference" / "api.html").read_text()
    assert "TrainResult" in api and "ConfigError" in api
    index = (tmp_path / "index.html").read_text()
    assert 'href="configuration.html"' in index  # file URLs: the site opens from file://


BREAKS = {
    "a broken link": ("index.md", "[x](no-such-page.md)", "no-such-page.md"),
    "a broken anchor": ("index.md", "[x](configuration.md#no-such-key)", "#no-such-key"),
    "missing evidence": ("index.md", "![x](experiments/ui/none.png)", "experiments/ui/none.png"),
    "a missing result page": ("index.md", '--8<-- "experiments/results/none.md"', "none.md"),
    "a page left out of the nav": ("orphan.md", "# Orphan", "orphan.md"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BREAKS))
def test_a_strict_build_fails_on(case: str, tmp_path: Path) -> None:
    """Each break in a copy of the site's sources fails `mkdocs build --strict`, naming it."""
    copy = tmp_path / "repo"
    for part in ("docs", "conf", "experiments"):  # experiments: the evidence, the gate's reader
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    (copy / "rl_harness").symlink_to(ROOT / "rl_harness")  # the API reference's source
    page, text, named = BREAKS[case]
    with (copy / "docs" / page).open("a") as f:
        f.write(f"\n\n{text}\n")
    proc = build(copy / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0 and named in proc.stderr, proc.stderr[-3000:]
