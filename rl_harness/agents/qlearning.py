"""Tabular Q-learning with Stable-Baselines3's public surface: learn, predict, save, load.

It does not inherit SB3's base classes (they assume torch policies), but it has every attribute
SB3's callbacks, ``evaluate_policy`` and logger touch, so the harness drives it like DQN.

Update rule, once per vectorized step over the N envs, all in numpy::

    delta_i = r_i + gamma * (1 - terminated_i) * max_a Q(s'_i, a) - Q(s_i, a_i)
    Q(s, a) <- Q(s, a) + alpha * mean{ delta_i : (s_i, a_i) = (s, a) }

- Only true termination stops bootstrapping. A truncation (``infos[i]["TimeLimit.truncated"]``,
  e.g. a TimeLimit or a fixed horizon) bootstraps from the true last state, which SB3 VecEnvs put
  in ``infos[i]["terminal_observation"]`` before auto-resetting.
- Every delta_i reads the table as it was before this step (a synchronous update). A (s, a) pair
  that occurs k times in one batch moves once, by alpha times the mean of its k TD errors: with
  no repeats this is exactly N sequential Q-learning updates (as long as no updated pair is also
  a bootstrap state in the same batch); averaging (rather than summing) keeps many envs sharing
  a pair from overshooting, since alpha * k could exceed 1.
- Behaviour policy: epsilon-greedy, epsilon linear from ``exploration_initial_eps`` to
  ``exploration_final_eps`` over the first ``exploration_fraction`` of training, like SB3 DQN;
  ``alpha`` is a float or an SB3 schedule ``progress_remaining -> float``.

Observations map to one table row (``tabular.ObsEncoder``): Discrete directly,
MultiDiscrete/MultiBinary ravelled, Box clipped to ``[obs_low, obs_high]`` and cut into
``obs_bins`` equal-width bins per dimension, then ravelled.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from collections import deque
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
    ProgressBarCallback,
)
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.type_aliases import MaybeCallback, Schedule
from stable_baselines3.common.utils import (
    FloatSchedule,
    LinearSchedule,
    check_for_correct_spaces,
    configure_logger,
    is_vectorized_observation,
    safe_mean,
    set_random_seed,
)
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, unwrap_vec_normalize

from rl_harness.agents import tabular as tab
from rl_harness.agents.tabular import SUPPORTED_OBS, ObsEncoder
from rl_harness.common import space_codec

SelfQLearning = TypeVar("SelfQLearning", bound="QLearning")
_HPARAMS = (
    "learning_rate", "gamma", "exploration_initial_eps", "exploration_final_eps",
    "exploration_fraction", "initial_q_value", "obs_bins", "obs_low", "obs_high", "max_table_mb",
    "seed", "verbose", "device", "stats_window_size", "tensorboard_log",
)  # fmt: skip


class QLearning:
    """Tabular Q-learning on any SB3 VecEnv with a Discrete action space (see module docstring)."""

    def __init__(
        self,
        env: VecEnv | gym.Env | None,
        learning_rate: float | Schedule = 0.1,
        gamma: float = 0.99,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        exploration_fraction: float = 0.5,
        initial_q_value: float = 0.0,
        obs_bins: int | list[int] | None = None,
        obs_low: float | list[float] | None = None,
        obs_high: float | list[float] | None = None,
        max_table_mb: float = 512.0,
        seed: int | None = None,
        verbose: int = 0,
        device: str = "cpu",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        *,
        _spaces: tuple[spaces.Space, spaces.Space] | None = None,
    ) -> None:
        self.learning_rate, self.gamma = learning_rate, gamma
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_fraction = exploration_fraction
        self.initial_q_value, self.max_table_mb = initial_q_value, max_table_mb
        self.obs_bins, self.obs_low, self.obs_high = obs_bins, obs_low, obs_high
        self.seed, self.verbose, self.device = seed, verbose, device  # device: SB3 parity only
        self.stats_window_size, self.tensorboard_log = stats_window_size, tensorboard_log

        vec_env = tab.as_vec_env(env) if env is not None else None
        if vec_env is not None:
            _spaces = (vec_env.observation_space, vec_env.action_space)
        if _spaces is None:
            raise ValueError("QLearning needs an env (or use QLearning.load(path)).")
        self._setup_table(*_spaces)
        self._setup_schedules()
        self._reset_counters()
        self.env: VecEnv | None = None
        self._vec_normalize_env: VecNormalize | None = None
        if vec_env is not None:
            self.set_env(vec_env)
            if seed is not None:  # like SB3's set_random_seed: the global generators (which
                set_random_seed(seed)  # the table never draws from) and the next reset
                vec_env.seed(seed)
                self.action_space.seed(seed)

    def _setup_table(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Spaces, the observation encoder and the Q-table (refused when over max_table_mb)."""
        self.observation_space, self.action_space = observation_space, action_space
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"QLearning supports only Discrete action spaces, got {action_space}; "
                f"observation spaces supported: {SUPPORTED_OBS}."
            )
        self._n_actions = int(action_space.n)
        self._action_start = int(action_space.start)
        self._encode = ObsEncoder(observation_space, self.obs_bins, self.obs_low, self.obs_high)
        n_states = self._encode.n_states
        table_bytes = n_states * self._n_actions * 8  # a Python int: images make it astronomical
        if table_bytes > self.max_table_mb * 2**20:
            raise ValueError(
                f"Q-table of {_magnitude(n_states)} states x {self._n_actions} actions needs "
                f"{_megabytes(table_bytes)} MB, over max_table_mb={self.max_table_mb}; "
                "use fewer obs_bins or raise max_table_mb."
            )
        self.q_table = np.full((n_states, self._n_actions), float(self.initial_q_value))

    def _setup_schedules(self) -> None:
        """Learning rate and exploration schedules (SB3's), and the behaviour policy's RNG."""
        self.lr_schedule = FloatSchedule(self.learning_rate)
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self.exploration_rate = self.exploration_initial_eps
        self._rng = np.random.default_rng(self.seed)

    def _reset_counters(self) -> None:
        """What SB3's BaseAlgorithm keeps between learn calls: counters, episode buffers,
        logger, last observation."""
        self.num_timesteps, self._total_timesteps, self._episode_num = 0, 0, 0
        self._num_timesteps_at_start, self._current_progress_remaining = 0, 1.0
        self.ep_info_buffer: deque = deque(maxlen=self.stats_window_size)
        self.ep_success_buffer: deque = deque(maxlen=self.stats_window_size)
        self._logger: Logger | None = None
        self._custom_logger = False
        self._last_obs: Any = None  # the VecEnv's last observation batch
        self.start_time = time.time_ns()

    # ------------------------------------------------------------------ acting and learning
    def _act(self, rows: np.ndarray, eps: float) -> np.ndarray:
        """Epsilon-greedy actions (table indices) for table rows.

        One uniform draw u per env does both jobs: explore iff u < eps, and then u / eps is
        uniform on [0, 1), which picks the random action (one RNG call per step, not two).
        """
        actions = self.q_table.take(rows, axis=0).argmax(axis=1)
        if eps > 0.0:
            u = self._rng.random(len(rows))
            explore = (u < eps).nonzero()[0]
            if len(explore):
                picks = (u[explore] * (self._n_actions / eps)).astype(np.intp)
                actions[explore] = np.minimum(picks, self._n_actions - 1)
        return actions

    def _update(
        self,
        rows: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_rows: np.ndarray,
        not_terminal: np.ndarray | None,
        alpha: float,
    ) -> None:
        """One synchronous Q-learning step on a batch of transitions (module docstring)."""
        q_flat = self.q_table.reshape(-1)
        future = self.q_table.take(next_rows, axis=0).max(axis=1)
        if not_terminal is not None:
            future *= not_terminal
        pairs = rows * self._n_actions + actions
        td = rewards + self.gamma * future - q_flat[pairs]
        # Small table: count pairs densely. Big table: a set finds the (usual) no-repeat case
        # fastest; otherwise count by sorting. A pair seen k times gets alpha * td / k from each.
        if q_flat.size <= 64 * len(pairs):
            multiplicity = np.bincount(pairs, minlength=q_flat.size)[pairs]
        elif len(set(pairs.tolist())) == len(pairs):
            q_flat[pairs] += alpha * td
            return
        else:
            ordered = np.sort(pairs)
            multiplicity = ordered.searchsorted(pairs, "right") - ordered.searchsorted(pairs)
        np.add.at(q_flat, pairs, (alpha * td) / multiplicity)

    def learn(
        self: SelfQLearning,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = 4,
        tb_log_name: str = "QLearning",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfQLearning:
        """Train for ``total_timesteps`` env steps; ``callback.on_step()`` once per VecEnv step
        (between ``on_rollout_start`` and ``on_rollout_end``), logs dumped every
        ``log_interval`` episodes (at most once per VecEnv step)."""
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        env = self.env
        assert env is not None  # _setup_learn raised otherwise
        n_envs = env.num_envs
        rows = self._encode(self._last_obs)
        while self.num_timesteps < total_timesteps:
            # Each VecEnv step is one "rollout" (as for DQN with train_freq=1), so callbacks
            # that act between updates (checkpoints, divergence checks) work unchanged.
            callback.on_rollout_start()
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
            actions = self._act(rows, self.exploration_rate)
            new_obs, rewards, dones, infos = env.step(actions + self._action_start)
            self._last_obs = new_obs
            self.num_timesteps += n_envs
            callback.update_locals(locals())
            if not callback.on_step():
                break
            next_rows = self._encode(new_obs)
            bootstrap_rows, not_terminal = next_rows, None
            done_idx = dones.nonzero()[0]
            if len(done_idx):
                bootstrap_rows, not_terminal = self._handle_dones(next_rows, done_idx, infos)
            alpha = self.lr_schedule(self._current_progress_remaining)
            self._update(rows, actions, rewards, bootstrap_rows, not_terminal, alpha)
            self._current_progress_remaining = 1.0 - self.num_timesteps / total_timesteps
            callback.on_rollout_end()
            rows = next_rows
            if len(done_idx):
                before, self._episode_num = self._episode_num, self._episode_num + len(done_idx)
                if log_interval and self._episode_num // log_interval > before // log_interval:
                    self.dump_logs()
        callback.on_training_end()
        return self

    def _handle_dones(
        self, next_rows: np.ndarray, done_idx: np.ndarray, infos: list[dict[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap rows from ``terminal_observation``; mask true terminations; episode stats."""
        bootstrap_rows = next_rows.copy()
        not_terminal = np.ones(len(next_rows))
        last_obs, last_idx = [], []
        for i in done_idx:
            info = infos[i]
            if "episode" in info:
                self.ep_info_buffer.append(info["episode"])
            if info.get("is_success") is not None:
                self.ep_success_buffer.append(info["is_success"])
            if info.get("TimeLimit.truncated", False) and "terminal_observation" in info:
                last_obs.append(info["terminal_observation"])
                last_idx.append(i)
            else:
                not_terminal[i] = 0.0
        if last_idx:
            bootstrap_rows[last_idx] = self._encode(np.asarray(last_obs))
        return bootstrap_rows, not_terminal

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback,
        reset_num_timesteps: bool,
        tb_log_name: str,
        progress_bar: bool,
    ) -> tuple[int, BaseCallback]:
        """SB3's ``_setup_learn``: counters, buffers, env reset, default logger, callbacks."""
        if self.env is None:
            raise ValueError("QLearning has no env; pass one to load(..., env=) or set_env().")
        self.start_time = time.time_ns()
        if reset_num_timesteps:
            self.ep_info_buffer = deque(maxlen=self.stats_window_size)
            self.ep_success_buffer = deque(maxlen=self.stats_window_size)
            self.num_timesteps, self._episode_num = 0, 0
        else:
            total_timesteps += self.num_timesteps
        self._total_timesteps, self._num_timesteps_at_start = total_timesteps, self.num_timesteps
        self._current_progress_remaining = 1.0 - self.num_timesteps / max(total_timesteps, 1)
        if reset_num_timesteps or self._last_obs is None:
            self._last_obs = self.env.reset()
        if not self._custom_logger:
            self._logger = configure_logger(
                self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps
            )
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return total_timesteps, callback

    def dump_logs(self) -> None:
        """Record DQN's rollout/time keys and dump them at ``num_timesteps``."""
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        log = self.logger
        log.record("time/episodes", self._episode_num, exclude="tensorboard")
        if self.ep_info_buffer:
            log.record("rollout/ep_rew_mean", safe_mean([ep["r"] for ep in self.ep_info_buffer]))
            log.record("rollout/ep_len_mean", safe_mean([ep["l"] for ep in self.ep_info_buffer]))
        if self.ep_success_buffer:
            log.record("rollout/success_rate", safe_mean(self.ep_success_buffer))
        log.record("rollout/exploration_rate", self.exploration_rate)
        log.record("train/learning_rate", self.lr_schedule(self._current_progress_remaining))
        log.record("time/fps", int((self.num_timesteps - self._num_timesteps_at_start) / elapsed))
        log.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        log.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        log.dump(step=self.num_timesteps)

    def predict(
        self,
        observation: np.ndarray | int,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """Greedy (or, if not ``deterministic``, epsilon-greedy at the current exploration rate)
        actions for one observation or a batch, shaped as SB3 policies return them."""
        obs = np.asarray(observation)
        vectorized = is_vectorized_observation(obs, self.observation_space)
        rows = self._encode(obs if vectorized else obs[None])
        actions = self._act(rows, 0.0 if deterministic else self.exploration_rate)
        actions += self._action_start
        return (actions if vectorized else actions[0:1].squeeze(axis=0)), None

    # ------------------------------------------------------------------ SB3 plumbing
    def get_env(self) -> VecEnv | None:
        return self.env

    def set_env(self, env: VecEnv | gym.Env, force_reset: bool = True) -> None:
        """Use ``env`` from now on (spaces must match); resets it on the next ``learn``."""
        env = tab.as_vec_env(env)
        check_for_correct_spaces(env, self.observation_space, self.action_space)
        self.env, self._vec_normalize_env = env, unwrap_vec_normalize(env)
        if force_reset:
            self._last_obs = None

    def get_vec_normalize_env(self) -> VecNormalize | None:
        return self._vec_normalize_env

    def set_logger(self, logger: Logger) -> None:
        self._logger, self._custom_logger = logger, True

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = configure_logger(self.verbose)
        return self._logger

    def get_hyperparameters(self) -> dict[str, Any]:
        """Constructor kwargs as JSON-able values (schedules become a small dict)."""
        hparams = {name: getattr(self, name) for name in _HPARAMS}
        hparams["learning_rate"] = tab.schedule_to_json(self.learning_rate)
        return json.loads(json.dumps(hparams, default=tab.to_json))

    def save(self, path: str | os.PathLike | io.BufferedIOBase) -> None:
        """Write an ``.npz`` archive (a zip; ``.zip`` is added when the path has no suffix, as
        SB3 does) with the table and JSON metadata: no pickle."""
        meta = {
            "format": "rl_harness.QLearning/1",
            "hyperparameters": self.get_hyperparameters(),
            "observation_space": space_codec.to_json(self.observation_space),
            "action_space": space_codec.to_json(self.action_space),
            "num_timesteps": self.num_timesteps,
        }
        tab.write_archive(path, self.q_table, meta)

    @classmethod
    def load(
        cls: type[SelfQLearning],
        path: str | os.PathLike | io.BufferedIOBase,
        env: VecEnv | gym.Env | None = None,
        **kwargs: Any,
    ) -> SelfQLearning:
        """Rebuild a saved model; ``kwargs`` override saved hyperparameters."""
        q_table, meta = tab.read_archive(path)
        hparams = meta["hyperparameters"]
        unknown = set(kwargs) - set(_HPARAMS)
        if unknown:
            raise ValueError(f"Unknown QLearning.load kwargs {sorted(unknown)}; use {_HPARAMS}.")
        hparams.update(kwargs)
        hparams["learning_rate"] = tab.schedule_from_json(hparams["learning_rate"])
        obs_space = space_codec.from_json(meta["observation_space"])
        act_space = space_codec.from_json(meta["action_space"])
        model = cls(None, **hparams, _spaces=(obs_space, act_space))
        if model.q_table.shape != q_table.shape:
            raise ValueError(f"Saved table {q_table.shape} != rebuilt {model.q_table.shape}.")
        model.q_table[...] = q_table
        model.num_timesteps = int(meta["num_timesteps"])
        if env is not None:
            model.set_env(env)
        return model


def _magnitude(n: int) -> str:
    """An int as written, or as a power of ten when it has more than 12 digits."""
    return str(n) if n < 10**12 else f"~10^{int(math.log10(n))}"


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f}" if n_bytes < 10**18 else _magnitude(n_bytes >> 20)
