"""Every use of another library's private API, in one place, each with why and a test
(tests/rl_harness/common/test_compat.py). The dependencies named here have upper bounds in
pyproject.toml, so a release that moves them fails CI rather than a user's run."""

from __future__ import annotations


def warm_mlflow_requirements(requirements: list[str]) -> None:
    """MLflow maps installed packages to check a model's requirements the first time it logs one
    (~1 s); the background recorder does it early, while training runs. Private to MLflow: when
    it moves, logging the model is only slower, so callers may ignore the ImportError."""
    from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

    warn_dependency_requirement_mismatches(requirements)
