"""Names the harness gives to what it records, decided in one place."""

from __future__ import annotations

from typing import Any

# `checkpoint=` of evaluate and export: the model file of a training run each name loads
# (artifacts model/model.zip and model/best_model.zip).
CHECKPOINT_FILES = {"final": "model.zip", "best": "best_model.zip"}


def experiment_name(cfg: Any) -> str:
    """The MLflow experiment of a run: `mlflow.experiment`, else the env id without its module
    (`envs:Inventory-v0` → `Inventory-v0`)."""
    mlflow_cfg = cfg.get("mlflow") or {}
    return mlflow_cfg.get("experiment") or env_experiment(cfg.env.id)


def env_experiment(env_id: str) -> str:
    return str(env_id).split(":")[-1]
