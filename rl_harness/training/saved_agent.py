"""A trained agent brought back: its model, its VecNormalize statistics and its config.

Models come only from the tracking store (a run id) or from a path the user gives. SB3 model
files hold pickled Python objects, and so do VecNormalize files: load only what you trust.

    run_id ──► download model/model.zip (or best_model.zip), model/vecnormalize.pkl,
               resolved_config.yaml ──► algos.get_class(cfg.algo.name).load(path)
    path   ──► the same files beside the model (Hydra's run directory), or config= given
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from rl_harness.build import make as build
from rl_harness.build import registry as algos
from rl_harness.common.obs_normalizer import ObsNormalizer  # noqa: F401 - agents.ObsNormalizer
from rl_harness.config.names import CHECKPOINT_FILES
from rl_harness.config.runtime import to_plain
from rl_harness.errors import ConfigError
from rl_harness.tracking import runs as tracking

CHECKPOINTS = CHECKPOINT_FILES
CONFIG_FILE = "resolved_config.yaml"
STATS_FILE = "vecnormalize.pkl"


@dataclass
class TrainedAgent:
    cfg: DictConfig
    model: Any
    model_path: Path
    vecnormalize_path: Path | None
    run_id: str | None = None

    @property
    def algo(self) -> str:
        return self.cfg.algo.name


def load_model(algo: str, path: str | Path) -> Any:
    """The registry class's own `load`, on CPU (SB3 and the tabular Q-learning alike)."""
    if not Path(path).is_file():
        raise ConfigError(f"model file not found: {path}")
    return algos.get_class(algo).load(str(path), device="cpu")


def from_run(run_id: str, dst: Path, checkpoint: str = "final") -> TrainedAgent:
    """Download a training run's model, statistics and config into `dst` and load them."""
    if checkpoint not in CHECKPOINTS:
        raise ConfigError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    tracking.get_run(run_id)  # a clear error for an unknown id
    dst.mkdir(parents=True, exist_ok=True)
    config = tracking.download(run_id, CONFIG_FILE, dst)
    model_path = tracking.download(run_id, f"model/{CHECKPOINTS[checkpoint]}", dst)
    if config is None or model_path is None:
        raise ConfigError(
            f"run {run_id} has no {CONFIG_FILE} or model/{CHECKPOINTS[checkpoint]}"
            " artifact: is it a training run that finished?"
        )
    stats = tracking.download(run_id, f"model/{STATS_FILE}", dst)
    return _load(model_path, config, stats, run_id)


def from_path(model_path: str | Path, config: str | Path | None = None) -> TrainedAgent:
    """A model file the user names; config and statistics default to the files beside it."""
    model_path = Path(model_path)
    config_path = Path(config) if config else model_path.parent / CONFIG_FILE
    if not config_path.is_file():
        raise ConfigError(
            f"no config for {model_path}: {config_path} does not exist "
            f"(pass config=<path to the run's {CONFIG_FILE}>)"
        )
    stats = model_path.parent / STATS_FILE
    return _load(model_path, config_path, stats if stats.is_file() else None, None)


def _load(
    model_path: Path, config_path: Path, stats: Path | None, run_id: str | None
) -> TrainedAgent:
    cfg = OmegaConf.load(config_path)
    if not isinstance(cfg, DictConfig) or "algo" not in cfg or "env" not in cfg:
        raise ConfigError(f"{config_path} is not a resolved training config (no algo / env)")
    normalize = cfg.env.get("normalize")
    normalizes_obs = bool(normalize) and (
        not OmegaConf.is_dict(normalize) or normalize.get("norm_obs", True)
    )
    if normalizes_obs and stats is None:
        raise ConfigError(
            f"the agent was trained with env.normalize but {STATS_FILE} is "
            "missing; it is needed to feed the policy normalized observations"
        )
    model = load_model(cfg.algo.name, model_path)
    return TrainedAgent(cfg, model, model_path, stats, run_id)


def make_eval_env(
    agent: TrainedAgent, n_envs: int, seed: int | None = None, render: bool = False
) -> VecEnv:
    """The evaluation env of the agent's config, with the training run's statistics.

    `render=True` builds one plain (non-vectorized) env with `render_mode="rgb_array"`, a
    ConfigError where the env declares no such mode (`build.check_renders`).
    """
    if render:
        build.check_renders(agent.cfg.env.id)
    cfg = agent.cfg.copy()
    with open_dict(cfg):
        if seed is not None:
            cfg.seed = seed - build.EVAL_SEED_OFFSET  # make_env adds the offset back
        if render:
            cfg.env.vectorized = None
            cfg.env.kwargs = {
                **(to_plain(cfg.env.get("kwargs")) or {}),
                "render_mode": "rgb_array",
            }
            cfg.vec_env = "dummy"
    env = build.make_env(cfg, evaluation=True, n_envs=n_envs)
    if isinstance(env, VecNormalize) and agent.vecnormalize_path is not None:
        env = VecNormalize.load(str(agent.vecnormalize_path), env.venv)
        env.training, env.norm_reward = False, False
    return env
