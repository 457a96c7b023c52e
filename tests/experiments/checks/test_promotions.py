"""The promotions record (experiments/checks/promotions.py): a promoted config's header, as the
validated-tuning loop writes it, reads into its figures; a config no loop promoted is none; the
page comes from the record alone; the committed record holds what the promoted files say now."""

from __future__ import annotations

from pathlib import Path

from experiments.checks import promotions
from experiments.lib import records
from rl_harness.tuning import results

# The header rl_harness/tuning/report.py (validated, export) writes over a promoted file.
HEADER = (
    "Champion of Optuna study 'tune-ppo-custom-k3': trial 9, test IQM 2885.83 [2879.66, 2890.24] "
    "on seeds 5000 5001 5002 5003 5004 (tuning 2889.57);\n"
    "incumbent 2842.06; P(champion > incumbent) = 1.00 [0.97, 1.00].\n"
    "Command-line overrides: sweep=ppo algo=ppo env=custom\n"
    "Use it as conf/hparams/ppo_custom.yaml\n"
    "Kept from the file this replaced: env, eval"
)


def test_a_promoted_configs_header_reads_into_its_figures(tmp_path: Path) -> None:
    path = results.write_hparams({"n_timesteps": 300000}, tmp_path / "ppo_custom.yaml", HEADER)
    path.write_text(path.read_text() + "# A note kept by hand: it is no figure.\n")
    p = promotions.promotion(path)
    assert p is not None
    assert (p["algo"], p["env"], p["study"], p["trial"]) == (
        "ppo",
        "custom",
        "tune-ppo-custom-k3",
        9,
    )
    assert p["k_from_study_name"] == 3 and p["tuning"] == 2889.57
    assert (p["test_iqm"], p["test_ci"]) == (2885.83, [2879.66, 2890.24])
    assert p["test_seeds"] == [5000, 5001, 5002, 5003, 5004]
    assert p["incumbent_test_iqm"] == 2842.06
    assert (p["p_improvement"], p["p_ci"]) == (1.0, [0.97, 1.0])
    assert p["kept_from_replaced"] == ["env", "eval"]
    assert p["config_sha256"] == records.config_hash(path)
    assert p["promoted_in"] is None  # outside the repository: no commit to name


def test_a_config_no_loop_promoted_is_no_promotion(tmp_path: Path) -> None:
    path = tmp_path / "ppo_cartpole.yaml"
    path.write_text("# @package _global_\n# Tuned by hand.\nn_timesteps: 100000\n")
    assert promotions.promotion(path) is None


def test_the_page_is_rendered_from_the_record_alone(tmp_path: Path) -> None:
    path = results.write_hparams({"n_timesteps": 1}, tmp_path / "ppo_custom.yaml", HEADER)
    p = promotions.promotion(path)
    assert p is not None
    page = promotions.render({"command": "python -m x", "commit": "0" * 40, "machine": "m",
                              "promotions": [p]})  # fmt: skip
    assert page.startswith("#### Promotions by validated tuning") and "`python -m x`" in page
    (row,) = [line for line in page.splitlines() if line.startswith("| ppo/custom")]
    assert "| 2885.83 [2879.66, 2890.24] |" in row and "| 1.00 [0.97, 1.00] |" in row
    assert "`tune-ppo-custom-k3` trial 9 | 3 |" in row


def test_the_committed_record_holds_what_the_promoted_files_say() -> None:
    committed = records.load(promotions.RECORD)["promotions"]
    now = promotions.record("python -m experiments.checks.promotions")["promotions"]
    assert committed == now, "run `python -m experiments.checks.promotions`"
    assert {p["file"] for p in committed} >= {"conf/hparams/ppo_custom.yaml"}
