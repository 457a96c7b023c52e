"""What a run ran on: the facts, the git state of a checkout, and how two records differ."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from rl_harness.common import provenance
from tests.git_repos import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "train.py").write_text("lr = 0.001\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_a_clean_checkout_is_not_dirty_and_has_no_diff(repo: Path) -> None:
    state = provenance.git_state(repo)
    assert state.commit == git(repo, "rev-parse", "HEAD").strip()
    assert state.tags() == {provenance.COMMIT_TAG: state.commit, provenance.DIRTY_TAG: "false"}
    assert provenance.git_diff(state, repo) == ""


def test_a_changed_file_makes_it_dirty_and_the_diff_applies_back(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.01\n")
    (repo / "conf.yaml").write_text("gamma: 0.9\n")  # untracked: listed, its content is not
    state = provenance.git_state(repo)
    assert state.dirty and state.tags()[provenance.DIRTY_TAG] == "true"
    assert state.untracked == ("conf.yaml",)
    diff = provenance.git_diff(state, repo)
    assert diff.startswith("# untracked: conf.yaml\n")
    assert "-lr = 0.001\n+lr = 0.01\n" in diff
    git(repo, "checkout", "train.py")  # what was recorded restores the change
    (repo / "change.diff").write_text(diff)
    git(repo, "apply", "change.diff")
    assert (repo / "train.py").read_text() == "lr = 0.01\n"


def test_only_untracked_files_still_count(repo: Path) -> None:
    (repo / "new.py").write_text("")
    assert provenance.git_state(repo).dirty


def test_outside_a_checkout_nothing_is_claimed(tmp_path: Path) -> None:
    state = provenance.git_state(tmp_path)
    assert state == provenance.GitState(None, None) and state.tags() == {}
    assert provenance.git_diff(state, tmp_path) == ""


def test_facts_name_the_packages_that_decide_results() -> None:
    facts = provenance.facts(torch_threads=3)
    for name in ("stable-baselines3", "torch", "gymnasium", "numpy", "optuna", "mlflow"):
        assert facts[f"version.{name}"] == provenance.installed()[name]
    assert facts["version.hydra-core"]
    assert facts["version.python"] == platform.python_version()
    assert facts["torch.threads"] == "3" and facts["cpu"] and facts["platform"]
    assert len(facts[provenance.COMMIT_TAG]) == 40  # this checkout
    assert facts[provenance.DIRTY_TAG] in ("true", "false")
    assert "torch.threads" not in provenance.facts()


def test_packages_are_every_distribution_and_read_back() -> None:
    packages = provenance.installed()
    assert {"pytest", "torch", "rl-harness"} <= set(packages)
    text = provenance.packages_text(packages)
    assert f"numpy=={packages['numpy']}\n" in text
    assert provenance.parse_packages(text) == packages
    assert provenance.normalized("Stable_Baselines3") == "stable-baselines3"


def test_versions_read_from_the_metadata_head_are_what_importlib_parses() -> None:
    from importlib import metadata

    expected: dict[str, str] = {}
    for dist in metadata.distributions():  # the full parse the fast read replaces
        if dist.metadata["Name"]:
            expected.setdefault(provenance.normalized(dist.metadata["Name"]), dist.version)
    assert provenance.installed() == dict(sorted(expected.items()))


def test_a_package_is_found_by_its_name_or_else_by_the_files_that_list_it() -> None:
    assert provenance._providers("gymnasium") == ["gymnasium"]  # a lookup by name
    assert provenance._providers("yaml") == ["PyYAML"]  # hydra's dependency: another name
    assert provenance._providers("no_such_module_here") == []
    assert provenance.env_distribution("CartPole-v1") == (
        "gymnasium",
        provenance.installed()["gymnasium"],
    )


def test_facts_read_back_from_tags_and_differences_are_listed() -> None:
    recorded = {
        "version.torch": "2.12.0",
        "version.numpy": "2.1.0",
        provenance.COMMIT_TAG: "a" * 40,
        provenance.DIRTY_TAG: "false",
    }
    tags = {**recorded, "algo": "ppo", "seed_group": "x", "mlflow.runName": "r"}
    assert provenance.from_tags(tags) == recorded
    current = {**recorded, "version.torch": "2.13.0", "version.optuna": "5.1.0"}
    current[provenance.DIRTY_TAG] = "true"
    diffs = provenance.differences(recorded, current)
    assert [d.key for d in diffs] == [provenance.DIRTY_TAG, "version.optuna", "version.torch"]
    assert diffs[2] == ("version.torch", "2.12.0", "2.13.0")
    assert str(diffs[1]) == "version.optuna: none recorded, 5.1.0 now"
    assert provenance.differences(recorded, current, keys=["version.numpy"]) == []
    assert provenance.differences(recorded, dict(recorded)) == []


def test_files_are_written_and_a_stale_diff_removed(tmp_path: Path) -> None:
    files = provenance.write(tmp_path, {"numpy": "2.1.0"}, "diff --git a/x b/x\n")
    assert [f.name for f in files] == ["packages.txt", "git.diff"]
    assert (tmp_path / "environment/packages.txt").read_text() == "numpy==2.1.0\n"
    assert [f.name for f in provenance.write(tmp_path, {}, "")] == ["packages.txt"]
    assert not (tmp_path / "environment/git.diff").exists()


def test_what_the_experiments_write_is_not_a_change_of_the_code(repo: Path) -> None:
    """A benchmark merges each finished part into its record: its later runs stay clean."""
    results = repo / "experiments" / "results"
    results.mkdir(parents=True)
    (results / "gap.json").write_text("{}\n")
    (results / "kept.md").write_text("old\n")
    git(repo, "add", "experiments")
    git(repo, "commit", "-q", "-m", "a record")
    (results / "kept.md").write_text("re-rendered\n")  # a tracked record changed
    (results / "new.json").write_text("{}\n")  # and a new one
    state = provenance.git_state(repo / "experiments")  # from below the top, too
    assert state.dirty is False and state.untracked == ()
    assert provenance.git_diff(state, repo) == ""
    (repo / "experiments" / "bench.py").write_text("")  # code beside them still counts
    assert provenance.git_state(repo).untracked == ("experiments/bench.py",)


def test_a_users_repository_counts_every_file(repo: Path) -> None:
    (repo / "experiments" / "results").mkdir(parents=True)
    (repo / "experiments" / "results" / "mine.json").write_text("{}\n")
    assert provenance.git_state(repo, outputs=()).dirty
