"""Every command reads its command line one way: the documented lines pass, mistakes fail with
one line naming the key and what is allowed, before torch, SB3 or MLflow load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rl_harness.config import commands
from rl_harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]

# The command lines README.md and `make serve` document, as each command receives them.
DOCUMENTED = [
    ("evaluate", ["run_id=abc", "episodes=100"]),
    ("evaluate", ["run_id=abc", "checkpoint=best", "video=true", "video_episodes=2"]),
    ("evaluate", ["model_path=outputs/2026-01-01/12-00-00_ppo_custom/model.zip", "episodes=20"]),
    ("compare", ["experiment=Inventory-v0"]),
    ("compare", ["env_id=CartPole-v1", "algos=[ppo,dqn]", "group=baseline"]),
    ("register", ["run_id=abc", "name=cartpole-ppo", "alias=champion"]),
    ("serve", ["port=5001"]),
    ("serve", ["port=5001", "name=cartpole-ppo", "model=models:/cartpole-ppo@champion"]),
    ("export", ["run_id=abc", "out=policy.onnx"]),
    ("runs", ["experiment=Inventory-v0", "algos=ppo", "status=FINISHED", "limit=5"]),
]


@pytest.mark.parametrize(
    ("name", "argv"), DOCUMENTED, ids=[f"{n} {' '.join(a)}" for n, a in DOCUMENTED]
)
def test_documented_command_lines_pass(name: str, argv: list[str]) -> None:
    assert commands.checked_argv(name, argv) == argv
    cfg = commands.load(name, argv)
    key, _, value = argv[-1].partition("=")
    assert str(cfg[key]) == value.replace("[ppo,dqn]", "['ppo', 'dqn']")


MISTAKES = [
    (
        "evaluate",
        ["run_id=a", "episods=3"],
        "unknown config key 'episods' (did you mean 'episodes'?)",
    ),
    ("evaluate", ["run_id=a", "n_envs=-1"], "n_envs must be a positive integer, got -1"),
    ("evaluate", ["run_id=a", "episodes=2500.5"], "episodes must be an integer, got 2500.5"),
    ("evaluate", ["run_id=a", "video=yes"], "video must be true or false, got 'yes'"),
    ("evaluate", ["run_id=a", "checkpoint=last"], "checkpoint must be one of final, best"),
    ("evaluate", ["run_id=a", "model_path=m.zip"], "give exactly one of run_id=<training run id>"),
    ("compare", ["bootstrap.samples=many"], "bootstrap.samples must be an integer, got 'many'"),
    (
        "compare",
        ["bootstrap.confidence=1.5"],
        "bootstrap.confidence must be a number in (0.0, 1.0)",
    ),
    ("compare", ["algos=ppo"], "algos must be a list of names, e.g. [ppo,dqn], got 'ppo'"),
    ("compare", ["+extra=1"], "unknown config key 'extra'; keys at top level: algos, bootstrap"),
    ("register", ["name=x"], "missing required run_id: give run_id=<value>"),
    ("serve", ["port=99999"], "port must be a number in [1, 65535], got 99999"),
    ("serve", ["max_batch=0"], "max_batch must be a positive integer or null, got 0"),
    ("export", ["out=x.onnx"], "give exactly one of run_id=<training run id> or model_path=<file>"),
    ("export", ["run_id=a", "checkpoint=[1"], "cannot parse override 'checkpoint=[1'"),
]


@pytest.mark.parametrize(("name", "argv", "words"), MISTAKES, ids=lambda x: str(x))
def test_mistakes_are_one_line(name: str, argv: list[str], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        commands.load(name, argv)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_training_keeps_its_own_value_checks() -> None:
    # keys and groups are checked here; values are train.validate's, after composition
    assert commands.checked_argv("config", ["n_timesteps=abc", "algo.gamma=0.9"]) == [
        "n_timesteps=abc",
        "++algo.gamma=0.9",
    ]
    with pytest.raises(ConfigError, match="unknown algo 'foo'"):
        commands.checked_argv("config", ["algo=foo"])


def test_whole_number_floats_are_integers_where_integers_are_expected() -> None:
    # Hydra reads 2e4 as 20000.0; a key whose default is an integer gets 20000, also in a sweep
    argv = ["n_timesteps=2e4", "-m", "seed=0,1e1", "eval.final.episodes=3e1", "n_envs=2.5"]
    assert commands.checked_argv("config", argv) == [
        "n_timesteps=20000",
        "-m",
        "seed=0,10",
        "eval.final.episodes=30",
        "n_envs=2.5",  # not a whole number: left for train.validate to refuse
    ]
    cfg = commands.load("evaluate", ["run_id=a", "episodes=1e2", "seed=1e4"])
    assert cfg.episodes == 100 and type(cfg.episodes) is int and cfg.seed == 10000
    # a key an `integer` rule names, its default null
    assert commands.load("serve", ["max_batch=6.4e1"]).max_batch == 64
    assert commands.checked_argv("compare", ["bootstrap.confidence=1e-1"]) == [
        "bootstrap.confidence=1e-1"  # a number, not an integer: as written
    ]


def test_training_refuses_a_fraction_where_it_counts() -> None:
    from omegaconf import open_dict

    from rl_harness.training import train

    def validated(value: str):
        cfg = commands.compose("config", commands.checked_argv("config", [f"n_timesteps={value}"]))
        with open_dict(cfg):
            cfg.pop("hydra", None)
        return train.validate(cfg) and cfg.n_timesteps

    assert validated("2e4") == 20000
    with pytest.raises(ConfigError, match="n_timesteps must be a positive integer, got 2500.5"):
        validated("2.5005e3")


def test_subcommand_usage() -> None:
    with pytest.raises(ConfigError, match=r"usage: python -m prog \{register,serve\} key=value"):
        commands.load_subcommand("prog", ("register", "serve"), ["deploy"])


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


# One or two mistakes per entry point, through the command line a user types.
ENTRY_POINTS = [
    ("rl_harness.evaluate", ["run_id=a", "episode=3"], "unknown config key 'episode'"),
    ("rl_harness.evaluate", ["run_id=a", "episodes=0"], "episodes must be a positive integer"),
    ("rl_harness.compare", ["min_seed=2"], "unknown config key 'min_seed' (did you mean"),
    ("rl_harness.serving", ["serve", "port=http"], "port must be an integer, got 'http'"),
    ("rl_harness.serving", ["register", "name=x"], "missing required run_id"),
    ("rl_harness.export", ["runid=x"], "unknown config key 'runid' (did you mean 'run_id'?)"),
]


@pytest.mark.parametrize(("module", "args", "words"), ENTRY_POINTS, ids=lambda x: str(x))
def test_entry_points_report_one_line_and_exit_2(module: str, args: list[str], words: str) -> None:
    proc = run(module, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{module}: error: ") and words in lines[0]


def test_mistakes_fail_before_heavy_imports() -> None:
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['x', *sys.argv[2:]]\n"
        "try:\n"
        "    runpy.run_module(sys.argv_module, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    heavy = [m for m in ('torch', 'stable_baselines3', 'mlflow') if m in sys.modules]\n"
        "    print(e.code, heavy)\n"
    )
    for module, args in [
        ("rl_harness.evaluate", ["episodes=0"]),
        ("rl_harness.serving", ["serve", "port=0"]),
        ("rl_harness.export", ["run_id=a", "checkpoint=last"]),
    ]:
        code = probe.replace("sys.argv_module", repr(module))
        proc = subprocess.run(
            [sys.executable, "-c", code, module, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout.strip() == "2 []", (module, proc.stdout, proc.stderr)
