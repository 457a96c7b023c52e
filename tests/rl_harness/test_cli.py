"""User mistakes fail early with one line naming the problem and what is accepted."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rl_harness.config.preflight import preflight
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking
from rl_harness.training import train
from tests.conftest import compose_config


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rl_harness", *args], capture_output=True, text=True, timeout=120
    )


# (override, words the one-line message must contain) — rejected by the pre-flight check,
# before Hydra composes anything.
PREFLIGHT = [
    (["algo=foo"], ["unknown algo 'foo'", "ppo", "sac"]),
    (["env=cartpol"], ["unknown env 'cartpol'", "did you mean 'cartpole'"]),
    (["-m", "algo=ppo,dqm"], ["unknown algo 'dqm'"]),
    (["n_timestep=5"], ["unknown config key 'n_timestep'", "n_timesteps"]),
    (["eval.frek=3"], ["unknown config key 'eval.frek'", "freq"]),
    (["algo.learning_rate=[1,"], ["cannot parse override"]),
    (["hydra.run.dir=/proc/no/such/dir"], ["output directory /proc/no/such/dir cannot be created"]),
]

# Rejected after composition by train.validate / build, before any env or model exists.
VALIDATE = [
    (["algo.learning_rat=1e-3"], ["unknown hyperparameter algo.learning_rat", "learning_rate"]),
    (["n_timesteps=0"], ["n_timesteps must be a positive integer"]),
    (["n_timesteps=-5"], ["n_timesteps must be a positive integer"]),
    (["n_timesteps=abc"], ["n_timesteps must be a positive integer"]),
    (["n_envs=0"], ["n_envs must be a positive integer"]),
    (["torch_threads=0"], ["torch_threads must be a positive integer"]),
    (["eval.freq=-1"], ["eval.freq must be an integer"]),
    (["checkpoint.keep=-1"], ["checkpoint.keep must be an integer ≥ 0", "keeps all"]),
    (["vec_env=threads"], ["vec_env='threads'", "dummy", "subproc"]),
    (["env.id=Nope-v0"], ["env.id 'Nope-v0' is not a registered Gymnasium id"]),
    (["env.id=nomodule:Nope-v0"], ["env.id 'nomodule:Nope-v0'", "nomodule"]),
    (["algo.learning_rate=fast"], ["algo.learning_rate must be a number or a schedule"]),
    (["algo.learning_rate={schedule: cosine, start: 1}"], ["unknown schedule 'cosine'"]),
    (["env=acrobot", "algo.learning_rate={schedule: linear}"], ["linear schedule takes start"]),
    (["algo.n_steps=abc"], ["algo.n_steps must be an integer"]),
    (["algo.normalize_advantage=3"], ["algo.normalize_advantage must be true or false"]),
    (["algo.policy_kwargs={activation_fn: swish}"], ["activation_fn 'swish' is unknown", "tanh"]),
    (["algo.policy_kwargs={optimizer_class: Lion}"], ["optimizer_class 'Lion'", "Adam"]),
    (["algo.seed=3"], ["algo.seed is set by the harness", "seed="]),
    (["algo=dqn", "env=pendulum"], ["algo=dqn cannot train on env Pendulum-v1", "Discrete"]),
    (["algo=sac", "env=cartpole"], ["algo=sac cannot train on env CartPole-v1", "Box"]),
    (
        ["algo=td3", "env=pendulum", "algo.action_noise={type: pink}"],
        ["action_noise.type 'pink'", "normal"],
    ),
    (["env.kwargs.foo=1"], ["cannot build CartPole-v1", "foo"]),
    (["env.wrappers=[{foo: 1}]"], ["env.wrappers entries need a _target_"]),
]


@pytest.mark.parametrize(("args", "words"), PREFLIGHT, ids=lambda a: " ".join(a))
def test_preflight_rejects(args: list[str], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        preflight(args)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(("args", "words"), VALIDATE, ids=lambda a: " ".join(a))
def test_bad_config_rejected_before_training(args: list[str], words: list[str]) -> None:
    start = time.perf_counter()
    cfg = compose_config(preflight(["n_timesteps=256", *args]))
    with pytest.raises(ConfigError) as err:
        train.run(cfg)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert time.perf_counter() - start < 5
    assert (
        MlflowClient(tracking.tracking_uri()).search_runs(
            [e.experiment_id for e in MlflowClient(tracking.tracking_uri()).search_experiments()]
        )
        == []
    )  # nothing was recorded, so nothing can be left RUNNING


def test_unreachable_tracking_store_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(
        ConfigError, match="MLflow tracking store http://127.0.0.1:9 is unreachable"
    ):
        train.run(compose_config(["n_timesteps=256"]))
    assert time.perf_counter() - start < 5


def test_unwritable_output_dir_fails_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "output_dir", lambda: Path("/proc/no/such/dir"))
    with pytest.raises(ConfigError, match="output directory /proc/no/such/dir is not writable"):
        train.run(compose_config(["n_timesteps=256"]))


def test_preflight_lets_any_constructor_argument_through() -> None:
    assert preflight(["algo.target_kl=0.02", "env.kwargs.sutton_barto_reward=true"]) == [
        "++algo.target_kl=0.02",
        "++env.kwargs.sutton_barto_reward=true",
    ]
    assert preflight(["--cfg", "job", "+extra=1", "seed=3"]) == [
        "--cfg",
        "job",
        "+extra=1",
        "seed=3",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["algo=nope"], ["unknown algo 'nope'"]),
        (["algo.learning_rat=1e-3"], ["unknown hyperparameter algo.learning_rat"]),
        (["algo=dqn", "env=pendulum"], ["cannot train on env Pendulum-v1"]),
    ],
)
def test_cli_prints_one_line_and_exits_2(args: list[str], words: list[str]) -> None:
    out = cli(*args)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("rl_harness: error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_cfg_job_prints_the_composed_config() -> None:
    out = cli("--cfg", "job", "algo=dqn", "env=cartpole")
    assert out.returncode == 0
    assert "name: dqn" in out.stdout and "id: CartPole-v1" in out.stdout
    assert "target_update_interval: 10" in out.stdout  # from conf/hparams/dqn_cartpole.yaml
