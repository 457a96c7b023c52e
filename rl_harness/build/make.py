"""Environment and model construction from the composed config.

Pure functions: config in, objects out. YAML stays plain data; the few values SB3 wants as Python
objects (schedules, activation classes, action noise, tuples) are converted here from named forms,
never by eval'ing strings.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecCheckNan,
    VecEnv,
    VecFrameStack,
    VecMonitor,
    VecNormalize,
)
from stable_baselines3.common.vec_env.util import dict_to_obs

from rl_harness.build import registry as algos
from rl_harness.common import seeds
from rl_harness.config import names
from rl_harness.config.runtime import to_plain
from rl_harness.errors import ConfigError, NumericalError

ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "elu": torch.nn.ELU,
    "selu": torch.nn.SELU,
    "gelu": torch.nn.GELU,
    "silu": torch.nn.SiLU,
    "leaky_relu": torch.nn.LeakyReLU,
    "sigmoid": torch.nn.Sigmoid,
    "identity": torch.nn.Identity,
}
# RMSpropTFLike: TensorFlow's RMSprop (epsilon inside the square root), what RL Zoo's A2C on
# Atari is tuned with.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "RMSprop": torch.optim.RMSprop,
    "SGD": torch.optim.SGD,
    "RMSpropTFLike": RMSpropTFLike,
}


class ShallowDummyVecEnv(DummyVecEnv):
    """SB3's DummyVecEnv without its per-step deep copies.

    Gymnasium envs return a fresh info dict every step, so a copy of the list is enough, and the
    observation buffers are plain arrays, so `np.copy` does what `deepcopy` did; discrete
    actions go to the envs as Python ints, which `Discrete.contains` checks several times faster
    than numpy scalars (same values). Each of these costs about as much as a cheap env's own step
    (tabular envs, CartPole). Everything else, seeding and autoreset included, is DummyVecEnv's,
    so learning is unchanged.
    """

    def __init__(self, env_fns: list, *args: Any, **kwargs: Any) -> None:
        super().__init__(env_fns, *args, **kwargs)
        self._int_actions = isinstance(self.action_space, gym.spaces.Discrete)

    def step_wait(self) -> Any:
        actions = self.actions
        if self._int_actions and actions.ndim == 1:
            actions = actions.tolist()
        for i, env in enumerate(self.envs):
            obs, self.buf_rews[i], terminated, truncated, info = env.step(actions[i])
            self.buf_dones[i] = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if self.buf_dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = env.reset()
            self.buf_infos[i] = info
            self._save_obs(i, obs)
        return (
            self._obs_from_buf(),
            np.copy(self.buf_rews),
            np.copy(self.buf_dones),
            list(self.buf_infos),
        )

    def _obs_from_buf(self) -> Any:
        return dict_to_obs(self.observation_space, {k: np.copy(v) for k, v in self.buf_obs.items()})


VEC_ENVS: dict[str, type[VecEnv]] = dict(
    zip(names.VEC_ENVS, (ShallowDummyVecEnv, DummyVecEnv, SubprocVecEnv), strict=True)
)
NOISES = {"normal": NormalActionNoise, "ornstein_uhlenbeck": OrnsteinUhlenbeckActionNoise}
# Seed offset for evaluation envs, so evaluation episodes never replay training episodes
# (declared with the training seed blocks in rl_harness.common.seeds).
EVAL_SEED_OFFSET = seeds.EVAL_SEED_OFFSET


# ---------------------------------------------------------------- environments


def check_env_id(env_id: str) -> None:
    """Fail early, with the registry's own suggestion, on an id Gymnasium cannot make.

    `module:EnvId` imports the module first (it registers the id), as `gymnasium.make` does.
    """
    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        gym.spec(name)
    except gym.error.Error as e:
        raise ConfigError(f"env.id '{env_id}' is not a registered Gymnasium id: {e}") from None
    except ModuleNotFoundError as e:
        raise ConfigError(f"env.id '{env_id}': {e}".splitlines()[0]) from None


def _env_maker(env_id: str, kwargs: dict[str, Any]) -> str | Callable[..., gym.Env]:
    """What make_vec_env makes the envs from. Given an id, SB3 passes `render_mode="rgb_array"`
    unless the kwargs name one, and Gymnasium warns where the env does not declare that mode;
    such an env is made by a function instead, which SB3 passes only the kwargs."""
    if "render_mode" in kwargs or "rgb_array" in render_modes(env_id):
        return env_id
    return functools.partial(gym.make, env_id)


def render_modes(env_id: str) -> list[str]:
    """The render modes an env declares (its class's `metadata`), read as `gymnasium.make`
    reads them, without making the env."""
    from gymnasium.envs.registration import load_env_creator

    check_env_id(env_id)
    entry = gym.spec(env_id.rpartition(":")[2]).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    return list((getattr(creator, "metadata", None) or {}).get("render_modes") or [])


def check_renders(env_id: str, mode: str = "rgb_array") -> None:
    """An env asked for frames must declare the mode (else Gymnasium warns, and renders None)."""
    modes = render_modes(env_id)
    if mode not in modes:
        raise ConfigError(
            f"video=true needs an env that renders {mode} frames; {env_id} declares render "
            f"modes: {', '.join(modes) or 'none'}"
        )


def _wrapper_chain(wrappers: list[dict]) -> Callable[[gym.Env], gym.Env] | None:
    """Each entry is a Hydra `_target_` node; the env is passed as the first argument."""
    if not wrappers:
        return None
    for w in wrappers:
        if not isinstance(w, dict) or "_target_" not in w:
            raise ConfigError(
                f"env.wrappers entries need a _target_ (a wrapper class path), got {w}"
            )

    def wrap(env: gym.Env) -> gym.Env:
        for w in wrappers:
            env = instantiate(w, env)
        return env

    return wrap


def make_env(cfg: DictConfig, *, evaluation: bool = False, n_envs: int | None = None) -> VecEnv:
    """The vectorized training (or evaluation) env, monitored and optionally normalized."""
    env_cfg = cfg.env
    kwargs = to_plain(env_cfg.get("kwargs")) or {}
    seed = cfg.seed + EVAL_SEED_OFFSET if evaluation else cfg.seed
    n = n_envs or (cfg.eval.n_envs if evaluation else cfg.n_envs)
    if env_cfg.get("vectorized"):
        if env_cfg.get("wrappers"):
            raise ConfigError(
                "env.wrappers apply to single envs; with env.vectorized set, "
                "wrap the vectorized env class itself or set env.vectorized=null"
            )
        vec_cls = algos.import_path(env_cfg.vectorized)
        venv: VecEnv = VecMonitor(_construct(vec_cls, env_cfg.id, num_envs=n, seed=seed, **kwargs))
    else:
        if cfg.vec_env not in VEC_ENVS:
            raise ConfigError(f"vec_env='{cfg.vec_env}' is not one of: {', '.join(VEC_ENVS)}")
        venv = _construct(
            make_vec_env,
            env_cfg.id,
            _env_maker(env_cfg.id, kwargs),
            n_envs=n,
            seed=seed,
            env_kwargs=kwargs,
            wrapper_class=_wrapper_chain(to_plain(env_cfg.get("wrappers")) or []),
            vec_env_cls=VEC_ENVS[cfg.vec_env],
        )
    venv = _frame_stack(FiniteCheck(venv), env_cfg.get("frame_stack"))
    normalize = to_plain(env_cfg.get("normalize"))
    if normalize:
        norm_kwargs = normalize if isinstance(normalize, dict) else {}
        if evaluation:  # statistics come from the training env (synced by the eval callback)
            norm_kwargs = {**norm_kwargs, "training": False, "norm_reward": False}
        venv = _construct(VecNormalize, "env.normalize", venv, **norm_kwargs)
    return venv


def check_frame_stack(n_stack: Any) -> None:
    if n_stack is not None and (
        isinstance(n_stack, bool) or not isinstance(n_stack, int) or n_stack < 1
    ):
        raise ConfigError(f"env.frame_stack={n_stack!r} must be a positive integer or null")


def _frame_stack(venv: VecEnv, n_stack: Any) -> VecEnv:
    """The last n observations stacked. Inside VecNormalize, so that it stays the outermost
    wrapper, where saving and syncing its statistics look for it (RL Zoo stacks after
    normalizing: the same up to the zero-padded first steps of an episode; Atari has neither)."""
    check_frame_stack(n_stack)
    return venv if n_stack is None else VecFrameStack(venv, n_stack)


class FiniteCheck(VecCheckNan):
    """SB3's VecCheckNan (observations, rewards, actions), failing as a NumericalError.

    One `isfinite` pass per float array decides whether anything is wrong; only then does SB3's
    scan run, for its detailed message. (SB3's own scan costs about a quarter of a small
    policy's evaluation step.)
    """

    # The last actions and observations, kept for that message only: not in checkpoints.
    exact_state_transient = ("_actions", "_observations")

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv, raise_exception=True)

    def _check_val(self, event: str, **kwargs: Any) -> None:
        if all(
            isinstance(v, np.ndarray) and (v.dtype.kind not in "fc" or np.isfinite(v).all())
            for v in kwargs.values()
        ):
            return
        try:
            super()._check_val(event, **kwargs)  # our override's parent: SB3's detailed scan
        except ValueError as e:
            raise NumericalError(f"training stopped: {_one_line(e)}") from None


def _construct(factory: Callable, what: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return factory(*args, **kwargs)
    except (TypeError, ValueError, AssertionError, gym.error.Error) as e:
        raise ConfigError(f"cannot build {what}: {_one_line(e)}") from e


# ---------------------------------------------------------------- model


def algo_kwargs(name: str, cls: type, algo_cfg: DictConfig | dict) -> dict[str, Any]:
    """Validated constructor kwargs from the `algo` node (every key but `name`)."""
    raw = {k: v for k, v in to_plain(algo_cfg).items() if k != "name"}
    algos.check_keys(name, cls, list(raw))
    params = algos.accepted_keys(cls)
    for k, v in raw.items():
        if isinstance(v, dict) and "schedule" in v and not _takes_schedule(params[k]):
            takes = ", ".join(key for key, p in params.items() if _takes_schedule(p))
            raise ConfigError(
                f"algo.{k} of {name} takes a number, not a schedule; schedules: {takes}"
            )
    return {k: _convert(k, v, _default(params[k])) for k, v in raw.items()}


def _takes_schedule(param: Any) -> bool:
    """Whether the constructor accepts a callable here (unannotated: assume it does)."""
    annotation = param.annotation
    return annotation is inspect.Parameter.empty or any(
        word in str(annotation) for word in ("Callable", "Schedule")
    )


def _default(param: Any) -> Any:
    """The default whose type a value must have; an integer default of a parameter annotated
    as a float (ARS's `alive_bonus_offset: float = 0`) stands for a float."""
    default = param.default
    if type(default) is int and "float" in str(param.annotation):
        return float(default)
    return default


def _convert(key: str, value: Any, default: Any) -> Any:
    if isinstance(value, dict) and "schedule" in value:
        return _schedule(key, value)
    if key == "policy_kwargs" and value is not None:
        return _policy_kwargs(value)
    if key == "train_freq" and isinstance(value, list):
        return tuple(value)
    if key == "action_noise" and value is not None:
        return value  # needs the action dimension: built in make_model
    return _check_type(key, value, default)


def _check_type(key: str, value: Any, default: Any) -> Any:
    """Compare against the type of the class default (signature-derived, no second schema)."""
    if value is None or default is None or default is Ellipsis:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"algo.{key} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"algo.{key} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"algo.{key} must be a number or a schedule "
                f"{{schedule: linear, start: .., end: ..}}, got {value!r}"
            )
        return float(value)
    return value


def _schedule(key: str, spec: dict) -> Callable[[float], float]:
    kind = spec.get("schedule")
    allowed = {"schedule", "start", "end", "end_fraction"}
    if kind != "linear":
        raise ConfigError(
            f"algo.{key}: unknown schedule '{kind}'; supported: linear "
            "(keys start, end, end_fraction)"
        )
    unknown = set(spec) - allowed
    if unknown or "start" not in spec:
        raise ConfigError(
            f"algo.{key}: a linear schedule takes start (required), end, "
            f"end_fraction; got keys {sorted(spec)}"
        )
    try:
        start, end = float(spec["start"]), float(spec.get("end", 0.0))
        frac = float(spec.get("end_fraction", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(f"algo.{key}: schedule values must be numbers, got {spec}") from None
    if not 0.0 < frac <= 1.0:
        raise ConfigError(f"algo.{key}: end_fraction must be in (0, 1], got {frac}")
    return LinearSchedule(start, end, frac)


def _policy_kwargs(value: dict) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"algo.policy_kwargs must be a mapping, got {value!r}")
    out = dict(value)
    for key, table in (("activation_fn", ACTIVATIONS), ("optimizer_class", OPTIMIZERS)):
        name = out.get(key)
        if name is None:
            continue
        if name not in table:
            raise ConfigError(
                f"algo.policy_kwargs.{key} '{name}' is unknown; choose one of: {', '.join(table)}"
            )
        out[key] = table[name]
    return out


def _action_noise(spec: dict, env: VecEnv) -> Any:
    kind = spec.get("type")
    if kind not in NOISES:
        raise ConfigError(
            f"algo.action_noise.type '{kind}' is unknown; choose one of: {', '.join(NOISES)}"
        )
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ConfigError("algo.action_noise needs a continuous (Box) action space")
    dim = env.action_space.shape[-1]
    sigma = float(spec.get("sigma", 0.1))
    return NOISES[kind](mean=np.zeros(dim), sigma=sigma * np.ones(dim))


def make_model(cfg: DictConfig, env: VecEnv, kwargs: dict[str, Any]) -> Any:
    """Construct the algorithm on `env`; SB3's own space checks become config errors."""
    name = cfg.algo.name
    cls = algos.get_class(name)
    if isinstance(kwargs.get("action_noise"), dict):
        kwargs = {**kwargs, "action_noise": _action_noise(kwargs["action_noise"], env)}
    extra = {"seed": cfg.seed, "verbose": cfg.verbose, "device": cfg.device}
    try:
        return cls(env=env, **kwargs, **extra)
    except (AssertionError, ValueError, TypeError) as e:
        raise ConfigError(
            f"algo={name} cannot train on env {cfg.env.id} "
            f"(action space {env.action_space}): {_one_line(e)}"
        ) from e


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return re.sub(r"<class '[\w.]*\.(\w+)'>", r"\1", text)
