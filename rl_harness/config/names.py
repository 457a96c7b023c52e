"""Names the harness gives to what it records, decided in one place."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import OmegaConf

# `checkpoint=` of evaluate and export: the model file of a training run each name loads
# (artifacts model/model.zip and model/best_model.zip).
CHECKPOINT_FILES = {"final": "model.zip", "best": "best_model.zip"}

# An MLflow run's status (mlflow.entities.RunStatus), for `python -m rl_harness.runs status=`.
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")

# `vec_env=`: how a run's envs are stepped (build.make.VEC_ENVS maps each to its class).
VEC_ENVS = ("dummy", "sb3_dummy", "subproc")

# The experiment that comparisons and tuning reports go to, apart from the training runs whose
# charts their one-value metrics would crowd.
COMPARISONS_EXPERIMENT = "comparisons"

# Keys that change how a run is executed, named or recorded, but not what it learns: two runs
# that differ only here (and in the seed) are seeds of one configuration.
_NOT_CONFIGURATION = (
    "seed",
    "resume",
    "rerun",
    "mlflow",
    "optuna",
    "progress_bar",
    "verbose",
    "torch_threads",
    "vec_env",
    "device",
    "checkpoint",
)


def experiment_name(cfg: Any) -> str:
    """The MLflow experiment of a run: `mlflow.experiment`, else the env id without its module
    (`rl_harness.envs:Inventory-v0` → `Inventory-v0`)."""
    mlflow_cfg = cfg.get("mlflow") or {}
    return mlflow_cfg.get("experiment") or env_experiment(cfg.env.id)


LEGACY_ENVS = "envs:"  # the custom envs' module before they installed as rl_harness.envs


def current_env_id(env_id: str) -> str:
    """An env id as runs record it now: `envs:Inventory-v0` (recorded before the custom envs
    installed as `rl_harness.envs`) is `rl_harness.envs:Inventory-v0`, so that old and new
    runs of one task group together."""
    env_id = str(env_id)
    return "rl_harness." + env_id if env_id.startswith(LEGACY_ENVS) else env_id


def env_experiment(env_id: str) -> str:
    return str(env_id).split(":")[-1]


# `${env_name:${env.id}}` in conf/config.yaml's output folders: named by the env trained, also
# when an override (`env.id=Acrobot-v1`) changes it under another env config.
if not OmegaConf.has_resolver("env_name"):
    OmegaConf.register_new_resolver("env_name", lambda env_id: env_experiment(env_id))


def run_name(cfg: Any) -> str:
    """A training run's default name, `<algo>-<env>-s<seed>` (the tracking layer adds a short
    suffix where the experiment already has one): the runs list says what each run is."""
    return f"{cfg.algo.name}-{env_experiment(cfg.env.id)}-s{cfg.seed}"


def seed_group(cfg: Any) -> str:
    """`<algo>-<env>-<hash>` of the resolved config without the seed and the keys that do not
    change learning: runs that share it are seeds of one configuration, so MLflow's own
    "Group by" (tag `seed_group`) averages them and draws their range."""
    plain = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    assert isinstance(plain, dict)
    kept = {k: v for k, v in plain.items() if k not in _NOT_CONFIGURATION}
    digest = hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()
    return f"{cfg.algo.name}-{env_experiment(cfg.env.id)}-{digest[:8]}"
