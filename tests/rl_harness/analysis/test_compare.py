"""Comparison across seeds: grouping, the table, the figures (the statistics: common/test_stats)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rl_harness.analysis import compare
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking


def compare_config(*overrides: str):
    from hydra import compose, initialize_config_dir

    from rl_harness.config.preflight import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("compare", overrides=list(overrides))


def fake_training_run(
    experiment: str,
    algo: str,
    env: str,
    seed: int,
    final: float,
    curve: list[tuple[int, float]],
    optimum: float | None = None,
    group: str | None = None,
    **tags: str,
) -> str:
    """What train.run records that compare reads: tags, seed, final/ and eval/ metrics."""
    all_tags = {"algo": algo, "env": env, **({"group": group} if group else {}), **tags}
    with tracking.mlflow_run(experiment, tags=all_tags) as rec:
        rec.log_params({"seed": seed})
        for step, value in curve:
            rec.log_metrics({"eval/mean_reward": value}, step=step)
        rec.log_metrics({"final/mean_reward": final}, step=curve[-1][0])
        if optimum is not None:
            rec.log_metrics({"optimum": optimum}, step=0)
        return rec.run_id


@pytest.fixture
def runs() -> dict[str, list[str]]:
    """PPO and DQN (3 seeds each) on one env, PPO again under a group tag, noise to skip."""
    ids: dict[str, list[str]] = {"ppo": [], "dqn": [], "ppo-big": []}
    for seed, (p, d, g) in enumerate([(100, 40, 300), (120, 60, 310), (200, 50, 320)]):
        ids["ppo"].append(
            fake_training_run("exp", "ppo", "Inv", seed, p, [(100, p / 2), (200, p)], optimum=400.0)
        )
        ids["dqn"].append(
            fake_training_run("exp", "dqn", "Inv", seed, d, [(100, d / 4), (200, d)], optimum=400.0)
        )
        ids["ppo-big"].append(
            fake_training_run(
                "exp", "ppo", "Inv", seed, g, [(100, g), (200, g)], optimum=400.0, group="big"
            )
        )
    # neither an evaluation run nor a run of another experiment is a seed
    fake_training_run("exp", "ppo", "Inv", 9, 999, [(200, 999)], run_type="evaluation")
    fake_training_run("other", "ppo", "Inv", 9, 999, [(200, 999)])
    return ids


def test_compare_groups_seeds_and_reports_iqm_ci_optimum(runs, capsys) -> None:
    result = compare.run(compare_config("experiment=exp", "bootstrap.samples=500"))
    rows = {(r["algo"], r["group"]): r for r in result["rows"]}
    assert set(rows) == {("ppo", ""), ("dqn", ""), ("ppo", "big")}
    ppo = rows[("ppo", "")]
    assert sorted(ppo["run_ids"]) == sorted(runs["ppo"]) and ppo["seeds"] == 3
    assert ppo["mean"] == pytest.approx(140.0)
    assert ppo["std"] == pytest.approx(np.std([100, 120, 200], ddof=1))
    assert ppo["iqm"] == pytest.approx(stats.trim_mean([100, 120, 200], 0.25))
    assert ppo["iqm_ci_low"] <= ppo["iqm"] <= ppo["iqm_ci_high"]
    assert ppo["iqm_pct_optimum"] == pytest.approx(100 * ppo["iqm"] / 400)
    assert ppo["timesteps_min"] == ppo["timesteps_max"] == 200 and ppo["wall_s"] >= 0
    assert rows[("dqn", "")]["mean"] == pytest.approx(50.0)
    assert rows[("ppo", "big")]["iqm"] == pytest.approx(310.0)

    printed = capsys.readouterr().out
    assert "IQM [95% CI]" in printed and "% optimum" in printed and "big" in printed
    # the mean across seeds as every command prints an estimate: ± is the 95% CI, not the std
    sd = np.std([100, 120, 200], ddof=1)
    half = stats.t.ppf(0.975, 2) * sd / np.sqrt(3)
    assert ppo["ci95"] == pytest.approx(half)
    assert f"140.00 ± {half:.2f} (95% CI; std {sd:.2f})" in printed
    run = tracking.get_run(result["run_id"])
    assert run.data.tags["run_type"] == "comparison"
    # apart from the training runs, named for what it compared, its table previewable
    assert tracking.experiment_name(run.info.experiment_id) == "comparisons"
    assert run.info.run_name == "compare-exp" and run.data.tags["compared_experiment"] == "exp"
    table = json.loads(
        tracking.download(result["run_id"], "compare_table.json", Path("t")).read_text()
    )
    assert table["columns"][:2] == ["env", "algo"] and len(table["data"]) == 3
    again = compare.run(compare_config("experiment=exp", "bootstrap.samples=50"))
    assert tracking.get_run(again["run_id"]).info.run_name == "compare-exp-2"
    assert run.data.metrics["Inv/ppo/big/iqm"] == pytest.approx(310.0)
    for name in (
        "compare.md",
        "compare.csv",
        "runs.json",
        "learning_curves.png",
        "final_performance.png",
    ):
        path = tracking.download(result["run_id"], name, Path("dl"))
        assert path is not None and path.stat().st_size > 100, name


def test_learning_curve_band_uses_the_steps_all_seeds_share() -> None:
    group = compare.Group("ppo", "Inv", "")
    for seed, shift in enumerate([0, 10, 20]):
        group.runs.append(
            compare.SeedRun(
                str(seed),
                str(seed),
                0.0,
                None,
                300,
                1.0,
                [(100 + shift, 1.0 + seed), (300 + shift, 3.0 + seed)],
            )
        )
    boot = compare_config().bootstrap
    steps, mid, low, high = compare.curve(group, boot)
    assert steps.tolist() == [300]  # seed 0's steps within [120, 300]
    assert mid[0] == pytest.approx(np.mean([3.0, 3.9, 4.8]))  # interpolated at step 300
    assert low[0] <= mid[0] <= high[0]


def test_filters_and_no_match(runs) -> None:
    result = compare.run(compare_config("experiment=exp", "algos=[dqn]", "mlflow.enabled=false"))
    assert [r["algo"] for r in result["rows"]] == ["dqn"] and result["run_id"] is None
    result = compare.run(compare_config("group=big", "mlflow.enabled=false"))
    assert [(r["algo"], r["group"]) for r in result["rows"]] == [("ppo", "big")]
    with pytest.raises(ConfigError, match="no finished training runs match"):
        compare.run(compare_config("env_id=Nope-v0"))
    # an env id matches with or without its module (`Inv` runs, asked as `envs:Inv`)
    result = compare.run(compare_config("env_id=envs:Inv", "algos=[dqn]", "mlflow.enabled=false"))
    assert [r["algo"] for r in result["rows"]] == ["dqn"]


@pytest.mark.slow
def test_real_seeds_of_a_multirun_compare(tmp_path: Path) -> None:
    from rl_harness.training import train
    from tests.conftest import compose_config

    for seed in range(3):
        train.run(
            compose_config(
                [
                    "algo=a2c",
                    "env=cartpole",
                    f"seed={seed}",
                    "n_timesteps=2000",
                    "eval.freq=500",
                    "eval.episodes=3",
                    "checkpoint.freq=0",
                ]
            )
        )
    result = compare.run(compare_config("experiment=CartPole-v1"))
    (row,) = result["rows"]
    assert row["seeds"] == 3 and row["timesteps_max"] == 2000 and row["iqm_pct_optimum"] is None


def test_runs_recorded_under_the_old_envs_module_join_the_current_ones() -> None:
    for seed, (name, final) in enumerate([("envs", 10.0), ("rl_harness.envs", 20.0)]):
        fake_training_run("old-new", "ppo", f"{name}:Inventory-v0", seed, final, [(100, final)])
    rows = compare.run(compare_config("experiment=old-new", "mlflow.enabled=false"))["rows"]
    assert [(r["env"], r["seeds"]) for r in rows] == [("rl_harness.envs:Inventory-v0", 2)]


def test_default_grouping_is_the_configuration_and_leaves_out_sweeps_and_reruns(capsys) -> None:
    """Untagged runs of one algo split by seed_group; sweep jobs and reruns are not seeds."""
    exp = "by-config"
    ids = {"a": [], "b": []}
    for seed, (a, b) in enumerate([(100.0, 10.0), (110.0, 20.0), (120.0, 30.0)]):
        steps = 8192 if seed == 0 else 20480  # budgets differ: the row says so
        ids["a"].append(
            fake_training_run(exp, "ppo", "Inv", seed, a, [(steps, a)], seed_group="ppo-Inv-aaaa")
        )
        ids["b"].append(
            fake_training_run(exp, "ppo", "Inv", seed, b, [(1000, b)], seed_group="ppo-Inv-bbbb")
        )
    # a sweep's trial, re-test and incumbent, and a rerun of a seed of a: none of them a seed
    for job in ({"optuna.trial": "3"}, {"optuna.retest_of": "3"}, {"optuna.stage": "test"}):
        fake_training_run(
            exp,
            "ppo",
            "Inv",
            0,
            999.0,
            [(1000, 999.0)],
            seed_group="ppo-Inv-aaaa",
            **{"optuna.study": "s", **job},
        )
    fake_training_run(
        exp,
        "ppo",
        "Inv",
        0,
        555.0,
        [(8192, 555.0)],
        seed_group="ppo-Inv-aaaa",
        rerun_of=ids["a"][0],
    )
    result = compare.run(compare_config(f"experiment={exp}", "bootstrap.samples=200"))
    rows = {r["group"]: r for r in result["rows"]}
    assert set(rows) == {"ppo-Inv-aaaa", "ppo-Inv-bbbb"}
    a = rows["ppo-Inv-aaaa"]
    assert sorted(a["run_ids"]) == sorted(ids["a"]) and a["seeds"] == 3
    assert (a["timesteps_min"], a["timesteps_max"]) == (8192, 20480)
    names = {tracking.get_run(i).info.run_name for i in ids["a"]}
    assert a["runs"] == " ".join(sorted(names))

    printed = capsys.readouterr().out
    assert "8,192–20,480" in printed and all(n in printed for n in names)
    # the pairwise test between the rows, the better first: every run of a beats every run of b
    (pair,) = result["pairs"]
    assert (pair["a"], pair["b"]) == ("ppo [ppo-Inv-aaaa]", "ppo [ppo-Inv-bbbb]")
    assert pair["p_improvement"] == 1.0 and pair["ci_low"] <= 1.0 <= pair["ci_high"]
    assert "P(ppo [ppo-Inv-aaaa] > ppo [ppo-Inv-bbbb]) = 1.00 [1.00, 1.00]" in printed
    # where it wrote, and the comparison's run id
    assert f"to {result['out_dir']}" in printed
    assert f"comparison run: {result['run_id']}" in printed
    assert tracking.download(result["run_id"], "pairwise.csv", Path("dl")) is not None

    # asked for: the sweep's jobs are rows of their own, the rerun beside (never in) its source
    both = compare.run(
        compare_config(f"experiment={exp}", "include=[sweeps,reruns]", "mlflow.enabled=false")
    )
    seeds = {r["group"]: r["seeds"] for r in both["rows"]}
    assert seeds == {"ppo-Inv-aaaa": 6, "ppo-Inv-aaaa (rerun)": 1, "ppo-Inv-bbbb": 3}


def test_a_user_group_tag_wins_over_seed_group_and_bad_include_is_one_line() -> None:
    exp = "user-group"
    for seed in range(2):
        fake_training_run(exp, "dqn", "Inv", seed, 5.0, [(100, 5.0)], group="mine",
                          seed_group=f"dqn-Inv-{seed}")  # fmt: skip
    rows = compare.run(compare_config(f"experiment={exp}", "mlflow.enabled=false"))["rows"]
    assert [(r["group"], r["seeds"]) for r in rows] == [("mine", 2)]
    rows = compare.run(
        compare_config(f"experiment={exp}", "group_tag=seed_group", "mlflow.enabled=false")
    )["rows"]
    assert sorted(r["group"] for r in rows) == ["dqn-Inv-0", "dqn-Inv-1"]
    with pytest.raises(ConfigError, match="include must be a list of some of sweeps, reruns"):
        compare.run(compare_config(f"experiment={exp}", "include=[trials]"))
