"""The trained policy logged as an MLflow pyfunc model ("policy") of its training run.

    model artifacts
      model.zip                 the agent, loaded with registry.get_class(algo).load(...)
      policy.json               algo, observation / action spaces as JSON, max_batch
      obs_normalization.npz     VecNormalize's observation statistics (when normalizing)

The model's code is `rl_harness/deploy/policy_model.py` (MLflow's "models from code"): it is
copied into the model as a file and runs only when the model is loaded for serving, so this
module refers to it by path and does not import the serving layer.

Packaging runs in the recording helper, which has no other use for torch: the spaces come from
the saved file (`saved_spaces`), not from loading the agent, which would import torch and SB3
and build the optimizer (torch._dynamo): ~4.5 s of CPU and ~250 MB in a process that only
writes files.
"""

from __future__ import annotations

import base64
import json
import pickle
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from gymnasium import spaces as gym_spaces
from mlflow.models import Model, ModelSignature
from mlflow.types import Schema, TensorSpec
from omegaconf import DictConfig

from rl_harness.common import compat, space_codec
from rl_harness.common.obs_normalizer import ObsNormalizer
from rl_harness.errors import ConfigError, HarnessError
from rl_harness.tracking import runs as tracking

MODEL_NAME = "policy"  # the model's name inside each training run
MODEL_URI_TAG = "policy_model_uri"
DEFAULT_MAX_BATCH = 10_000
POLICY_MODEL_CODE = Path(__file__).resolve().parents[1] / "deploy" / "policy_model.py"


def signature(observation_space: Any, action_space: Any) -> ModelSignature:
    """A float64 batch of observations in, one action per row out.

    float64 whatever the space's dtype: JSON numbers arrive as float64, and a cast to an integer
    dtype at parse time would silently turn 1.5 into 1; `check_batch` rejects it instead.
    """
    action_dtype = np.float32 if isinstance(action_space, gym_spaces.Box) else np.int64
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float64), (-1, *observation_space.shape))]),
        outputs=Schema([TensorSpec(np.dtype(action_dtype), (-1, *action_space.shape))]),
    )


def pip_requirements() -> list[str]:
    """Pinned to what is installed: listing them is instant, inferring them takes seconds."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for package in ("mlflow", "stable-baselines3", "sb3-contrib", "torch", "gymnasium", "numpy"):
        try:
            reqs.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pass
    return reqs


def saved_spaces(algo: str, model_path: Path) -> tuple[gym_spaces.Space, gym_spaces.Space]:
    """The observation and action spaces of a saved model, the ones its `load` would restore.

    SB3's zip holds them in its `data` JSON member, each pickled (cloudpickle, base64) under
    ":serialized:" (stable_baselines3.common.save_util.data_to_json); unpickling a Gymnasium
    space needs neither torch nor SB3. Any other file (Q-learning's archive, a format SB3 may
    adopt later) is loaded with its class's own `load`. The file is the one this run just
    wrote: the same trust as `load`, which unpickles it too.
    """
    try:
        with zipfile.ZipFile(model_path) as archive:
            data = json.loads(archive.read("data"))
        obs, act = (
            pickle.loads(base64.b64decode(data[key][":serialized:"]))
            for key in ("observation_space", "action_space")
        )
        if isinstance(obs, gym_spaces.Space) and isinstance(act, gym_spaces.Space):
            return obs, act
    except Exception:  # noqa: BLE001 - not SB3's layout: the class's own load decides
        pass
    from rl_harness.training.saved_agent import load_model  # imports SB3 and torch

    model = load_model(algo, model_path)
    return model.observation_space, model.action_space


def prewarm() -> None:
    """The one-time cost of the first model logged, paid early (the helper calls this while
    training runs): importing MLflow's pyfunc flavour."""
    import mlflow.pyfunc  # noqa: F401


def log_policy_model(
    run_id: str,
    model_path: Path,
    vecnormalize_path: Path | None,
    cfg: DictConfig,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> str | None:
    """Log the trained policy of `run_id` as its pyfunc model "policy"; returns the model URI.

    Never fails the training run: a policy that cannot be served (e.g. Dict observations) is
    skipped with a warning and a `policy_model_skipped` tag.
    """
    start = time.perf_counter()
    client = tracking.client()
    try:
        observation_space, action_space = saved_spaces(cfg.algo.name, model_path)
        obs_json = space_codec.to_json(observation_space)
        act_json = space_codec.to_json(action_space)
    except HarnessError as e:
        warnings.warn(f"policy not logged as an MLflow model: {e}", stacklevel=2)
        client.set_tag(run_id, "policy_model_skipped", str(e))
        return None
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.json"
        policy.write_text(
            json.dumps(
                {
                    "algo": cfg.algo.name,
                    "env": cfg.env.id,
                    "observation_space": obs_json,
                    "action_space": act_json,
                    "max_batch": max_batch,
                },
                indent=1,
            )
        )
        artifacts = {"model": str(model_path), "policy": str(policy)}
        if vecnormalize_path is not None and Path(vecnormalize_path).is_file():
            normalizer = ObsNormalizer.from_vecnormalize(vecnormalize_path)
            if normalizer is not None:
                normalizer.save(Path(tmp) / "obs_normalization.npz")
                artifacts["obs_normalization"] = str(Path(tmp) / "obs_normalization.npz")
        # Model.log rather than pyfunc.log_model: it takes the run id (no active fluent run here).
        # It files the model under the fluent API's current experiment (the Default one unless
        # set), so set the run's: the run page then lists its model, and the experiment shows it.
        # No input example: the signature says it all, and validating one would load the model.
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        mlflow.set_experiment(experiment_id=client.get_run(run_id).info.experiment_id)
        with compat.pinned_requirements():
            info = Model.log(
                artifact_path=None,
                name=MODEL_NAME,
                flavor=mlflow.pyfunc,
                run_id=run_id,
                python_model=str(POLICY_MODEL_CODE),
                artifacts=artifacts,
                signature=signature(observation_space, action_space),
                pip_requirements=pip_requirements(),
                model_config={"max_batch": max_batch},
                tags={"algo": cfg.algo.name, "env": cfg.env.id},
            )
    client.set_tag(run_id, MODEL_URI_TAG, info.model_uri)
    client.log_metric(run_id, "time/policy_model_log_s", time.perf_counter() - start)
    return info.model_uri


def registered(name: str, run_id: str) -> str | None:
    """`models:/<name>/<version>` of the newest version of `name` registered from `run_id`
    (its tag source_run_id), else None: registering the same run again adds nothing."""
    try:
        found = tracking.client().search_model_versions(f"name = '{name}'")
    except mlflow.exceptions.MlflowException:
        return None
    versions = [
        int(mv.version)
        for mv in found
        if (mv.tags or {}).get("source_run_id") == run_id or mv.run_id == run_id
    ]
    return f"models:/{name}/{max(versions)}" if versions else None


def register(
    run_id: str, name: str, alias: str | None = "champion", tags: dict[str, str] | None = None
) -> str:
    """Register the run's policy model as a new version of `name` (alias moved to it), with
    `tags` on the version besides its source run."""
    run = tracking.get_run(run_id)
    source = run.data.tags.get(MODEL_URI_TAG)
    if source is None:
        raise ConfigError(
            f"run {run_id} has no logged policy model (tag {MODEL_URI_TAG}); "
            "runs trained before model logging existed cannot be registered"
        )
    client = tracking.client()
    version = mlflow.register_model(
        source, name, tags={"source_run_id": run_id, **(tags or {})}
    ).version
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return f"models:/{name}/{version}"
