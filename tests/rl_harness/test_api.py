"""The Python API: the documented example (docs/evaluate-serve.md) runs as written; results are
typed; errors and output directories behave as on the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rl_harness.api import TrainResult, train
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking

PAGE = Path(__file__).resolve().parents[2] / "docs" / "evaluate-serve.md"


def readme_example() -> str:
    section = PAGE.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(capsys: pytest.CaptureFixture) -> None:
    namespace: dict = {}
    exec(compile(readme_example(), str(PAGE), "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, TrainResult) and result.timesteps >= 2048
    assert result.model_path.is_file() and result.output_dir.is_absolute()
    run = tracking.get_run(result.run_id)
    assert run.data.metrics["final/mean_reward"] == pytest.approx(result.mean_reward)
    assert run.data.metrics["final/ci95"] == pytest.approx(result.ci95)
    assert result.episodes == run.data.metrics["final/episodes"]
    assert namespace["evaluation"]["eval/episodes"] == 20
    assert "ppo" in capsys.readouterr().out  # compare's table
    again = namespace["again"]
    assert again["same"] is True and again["rerun_of"] == result.run_id
    assert again["result"].run_id != result.run_id and again["drift"] == []


def test_each_call_has_its_own_output_directory_and_the_optimum_is_reported() -> None:
    budget = ["n_timesteps=20480", "eval.freq=0", "checkpoint.freq=0", "mlflow.enabled=false"]
    a = train("qlearning", "custom", budget)
    b = train("qlearning", "custom", [*budget, "seed=1"])
    assert a.output_dir != b.output_dir and a.output_dir.name.endswith("_qlearning_Inventory-v0")
    assert a.run_id is None  # tracking off, as asked
    assert a.optimality == pytest.approx(a.mean_reward / 2915.55, rel=1e-3)  # the DP optimum
    assert a.optimality_ci95 == pytest.approx(a.ci95 / 2915.55, rel=1e-3)


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["n_timestep=10"], "unknown config key 'n_timestep' (did you mean 'n_timesteps'?)"),
        (["-m"], "'-m': the Python API takes key=value overrides only"),
        (["n_timesteps=-5"], "n_timesteps must be a positive integer, got -5"),
    ],
)
def test_mistakes_raise_the_clis_one_line(overrides: list[str], words: str) -> None:
    with pytest.raises(ConfigError) as e:
        train("ppo", "cartpole", overrides)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_env_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown env 'cartpol' \\(did you mean 'cartpole'"):
        train("ppo", "cartpol")
