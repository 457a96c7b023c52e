"""A trained policy as an MLflow pyfunc model: logged by every training run, registered under a
name with an alias, served by MLflow's own scoring server.

    model artifacts (the "policy" model of a run)
      model.zip                 the agent, loaded with algos.get_class(algo).load(...)
      policy.json               algo, observation / action spaces as JSON, max_batch
      obs_normalization.npz     VecNormalize's observation statistics (when normalizing)

    mlflow models serve -m models:/<name>@<alias> --env-manager local
    POST /invocations {"inputs": [[...obs...], ...]}  →  {"predictions": [action, ...]}

Requests are checked against the saved observation space (`spaces.check_batch`); a bad one
gets HTTP 400 with a message naming the problem, and the server keeps serving. Nothing in a
request names a file or model: the server only ever loads the model it was started with.

Command line (`key=value`, checked like every command's: conf/register.yaml, conf/serve.yaml):
    python -m rl_harness.serving register run_id=<id> name=<name> [alias=champion]
    python -m rl_harness.serving serve [model=models:/<name>@<alias> | name=<name>] [port=5001]
        [host=127.0.0.1] [workers=1] [max_batch=10000]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel
from omegaconf import DictConfig

from rl_harness.common import space_codec as spaces
from rl_harness.common.obs_normalizer import ObsNormalizer
from rl_harness.config import commands
from rl_harness.errors import ConfigError, HarnessError
from rl_harness.tracking import runs as tracking
from rl_harness.training.model_logging import (  # noqa: F401 - kept importable from here
    DEFAULT_MAX_BATCH,
    MODEL_NAME,
    MODEL_URI_TAG,
    register,
)

DEFAULT_ALIAS = "champion"
DEFAULT_PORT = 5001


class PolicyModel(PythonModel):
    """Observations (float64 batch, n × obs shape) → deterministic actions, one per row."""

    # The tensor signature logged with the model is the schema. Without this flag MLflow wraps
    # predict for type-hint validation and warns, on every import of the training path, that
    # predict has no type hints (inside its own catch_warnings, so no filter can silence it).
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        # SB3 and torch load here, not at import: MLflow imports this module to log every
        # training run's model, where the agent itself is not needed.
        import torch

        from rl_harness.training.saved_agent import load_model

        torch.set_num_threads(1)  # small MLPs: one thread answers fastest
        spec = json.loads(Path(context.artifacts["policy"]).read_text())
        self.algo = spec["algo"]
        self.observation_space = spaces.from_json(spec["observation_space"])
        config = context.model_config or {}
        self.max_batch = int(config.get("max_batch", spec.get("max_batch", DEFAULT_MAX_BATCH)))
        self.model = load_model(self.algo, context.artifacts["model"])
        stats = context.artifacts.get("obs_normalization")
        self.normalize = ObsNormalizer.load(stats) if stats else None

    # No type hints here: MLflow would read them as a competing input schema.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        try:
            obs = spaces.check_batch(_as_array(model_input), self.observation_space, self.max_batch)
        except HarnessError as e:
            raise MlflowException(str(e), error_code=INVALID_PARAMETER_VALUE) from None
        if self.normalize is not None:
            obs = self.normalize(obs)
        actions, _ = self.model.predict(obs, deterministic=True)
        return np.asarray(actions)


def _as_array(model_input: Any) -> Any:
    if hasattr(model_input, "to_numpy"):  # a DataFrame (dataframe_split / _records requests)
        return model_input.to_numpy()
    return model_input


def latest_registered(name: str | None = None) -> str:
    """models:/<name>/<version> of the newest version (of `name`, or of any registered model)."""
    client = tracking.client()
    query = f"name = '{name}'" if name else ""
    versions = client.search_model_versions(
        query, order_by=["creation_timestamp DESC"], max_results=1
    )
    if not versions:
        where = f"under the name '{name}'" if name else "at all"
        raise ConfigError(
            f"no model is registered {where} in {tracking.tracking_uri()}; "
            "register one: python -m rl_harness.serving register run_id=<id> "
            "name=<name>"
        )
    v = versions[0]
    return f"models:/{v.name}/{v.version}"


def serve_command(
    model_uri: str, port: int = DEFAULT_PORT, host: str = "127.0.0.1", workers: int = 1
) -> list[str]:
    """MLflow's own scoring server in this environment (the harness must be importable)."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def serve_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """MLflow starts the server as `bash -c "exec uvicorn ..."`, found on PATH: put this
    interpreter's scripts folder first, so serving works from an unactivated venv (`make serve`)."""
    env = dict(os.environ if base is None else base)
    scripts = str(Path(sys.executable).parent)  # not resolved: a venv's python is a symlink
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")]) if env.get("PATH") else scripts
    return env


# ---------------------------------------------------------------- command line

COMMANDS = ("register", "serve")  # each reads conf/<command>.yaml (config.commands)


def parse(argv: list[str]) -> tuple[str, DictConfig]:
    """The subcommand and its checked config (config.commands)."""
    return commands.load_subcommand("rl_harness.serving", COMMANDS, argv)


def main(argv: list[str]) -> None:
    run(*parse(argv))


def run(command: str, cfg: DictConfig) -> None:
    """Register a run's policy model, or exec MLflow's scoring server (never returns)."""
    if command == "register":
        uri = register(cfg.run_id, cfg.name, cfg.alias or None)
        alias = f" (alias @{cfg.alias}: models:/{cfg.name}@{cfg.alias})" if cfg.alias else ""
        print(f"registered {uri}{alias}")
        return
    uri = cfg.model or latest_registered(cfg.name)
    cmd = serve_command(uri, cfg.port, cfg.host, cfg.workers)
    env = serve_env()
    if cfg.max_batch:  # MLflow's own channel for model_config at serving time
        env["SERVING_MODEL_CONFIG"] = json.dumps({"max_batch": int(cfg.max_batch)})
    print(f"serving {uri} on http://{cfg.host}:{cfg.port}/invocations", flush=True)
    os.execve(cmd[0], cmd, env)
