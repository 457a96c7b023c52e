"""Exact resume: what a checkpoint holds beyond the model file, so that a resumed run takes the
very steps the uninterrupted run would have taken.

SB3's model.zip holds the weights, the optimizer, the counters; the replay buffer and the
VecNormalize statistics go beside it. What none of them holds, and what a resumed run would
otherwise draw afresh:

    rng        Python's, NumPy's and torch's global generators, the action space's
    model      last observations, episode-info buffers, action noise, exploration rate, and
               what `load` and `learn` reset (SB3 resets the env and the action noise)
    logger     the values recorded but not yet written (PPO's train/* wait for the next dump)
    env        the training vec env, layer by layer: every env mid-episode, the monitors'
               episode counters, VecNormalize's running returns
    eval_env   the periodic evaluation's env, which continues its seeded stream
    callbacks  their counters: when the next evaluation and checkpoint fall, the best so far

It is captured where checkpoints are written, at a rollout's start (the last update done,
nothing half-collected), and restored by `Restore`, the last callback, once `learn` has reset
what it resets. What cannot be captured (envs in other processes, an env that does not pickle,
a GPU) is listed in `inexact`, and a run resumed from it says so.
"""

from __future__ import annotations

import functools
import pickle
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv, VecEnvWrapper

from rl_harness.errors import ConfigError
from rl_harness.training.checkpoints import STATE_FORMAT, dumps
from rl_harness.training.packing import Packer, Unpacker

# Model attributes a resumed `learn` must find as they were (those the model lacks are skipped).
MODEL_ATTRS = (
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
    "_episode_num",
    "action_noise",
    "exploration_rate",
    "_current_progress_remaining",
    "_n_updates",
    "_n_calls",
    "_rng",  # tabular Q-learning's generator
    "_last_lstm_states",  # RecurrentPPO's hidden states
)
# Env families whose pickle leaves part of the simulator's state behind: MuJoCo's rebuilds the
# model from its XML (without qpos, qvel, time), ALE's emulator state leaves its generator out
# (measured: experiments/results/resume_exactness.md). Saved as they pickle, said inexact.
STATELESS_PICKLES = ("gymnasium.envs.mujoco", "ale_py")
_LINKS = ("venv", "class_attributes")  # a wrapper's links to the layers below, rebuilt anew
# A vec env layer may name, in a class attribute of this name, attributes that are a report of
# the step before and that the next step rewrites before reading (left out: checkpoints stay small).
TRANSIENT = "exact_state_transient"
# Monitor's lists of every finished episode: a report of the past that nothing in training reads
# (what SB3 logs comes from the model's episode-info buffer, saved above), and that grows with
# every episode: left out, a checkpoint's state stays the same size however long the run. A
# resumed env's Monitor lists the episodes since the resume only.
MONITOR_HISTORY = ("episode_returns", "episode_lengths", "episode_times")
# Not a callback's state: SB3's view of the loop's variables; the evaluation history, which
# evaluations.npz holds (train.restore_evaluations reads it back).
_SKIPPED_CALLBACK_ATTRS = (
    "locals",
    "globals",
    "evaluations_results",
    "evaluations_timesteps",
    "evaluations_length",
)


def capture(model: Any, callbacks: Iterable[BaseCallback], at_boundary: bool = True) -> dict:
    """Everything the next step depends on that the model file does not hold (see above)."""
    inexact: list[str] = []
    if not at_boundary:
        inexact.append("written mid-rollout (stopped at once by a signal)")
    if str(getattr(model, "device", "cpu")) != "cpu":
        inexact.append(f"trained on {model.device}: GPU kernels are not bitwise repeatable")
    found = list(walk(callbacks))
    arrays = Packer()  # the model's last observations are often the env's own: stored once
    return {
        "format": STATE_FORMAT,
        "rng": {
            **_global_rngs(getattr(model, "seed", None)),
            "action_space": getattr(model.action_space, "_np_random", None),
        },
        "model": arrays.attrs(
            {name: getattr(model, name) for name in MODEL_ATTRS if hasattr(model, name)}
        ),
        "logger": _logger_state(model),
        "env": env_state(model.get_env(), "the training env", inexact, arrays),
        "eval_env": [
            env_state(c.eval_env, "the evaluation env", inexact, arrays)
            for c in _evaluations(found)
        ],
        "callbacks": [(type(c).__name__, _plain_attrs(c)) for c in found],
        "inexact": inexact,
        "arrays": arrays.packed,  # after the env's: filled by them
    }


def restore(model: Any, callbacks: Iterable[BaseCallback], state: dict) -> None:
    """Put back what `capture` took, over whatever loading and `learn` have reset; refused
    before anything changes where this run's callbacks are not the checkpoint's."""
    found = list(walk(callbacks))
    if [type(c).__name__ for c in found] != [name for name, _ in state["callbacks"]]:
        raise ConfigError("the checkpoint's callbacks differ from this run's; cannot resume")
    arrays = Unpacker(state.get("arrays", []))  # format 1 had none
    rng = state["rng"]
    _restore_global_rngs(rng)
    if rng["action_space"] is not None:
        model.action_space._np_random = rng["action_space"]
    for name, value in arrays.attrs(state["model"]).items():
        setattr(model, name, value)
    logger = model.logger
    for attr, values in state["logger"].items():
        getattr(logger, attr).clear()
        getattr(logger, attr).update(values)
    restore_env(model.get_env(), state["env"], arrays)
    for callback, blob in zip(_evaluations(found), state["eval_env"], strict=True):
        restore_env(callback.eval_env, blob, arrays)
    for callback, (_, attrs) in zip(found, state["callbacks"], strict=True):
        vars(callback).update(attrs)


def _global_rngs(seed: int | None) -> dict[str, Any]:
    """Python's, NumPy's and torch's generator states; {"seeded": seed} for those that nothing
    has drawn from since they were seeded with the run's seed (2.5 KB each less: SB3 seeds all
    three; Python's is seldom drawn from, NumPy's and torch's not by Q-learning)."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": _torch_rng()}
    return {
        name: {"seeded": seed}
        if isinstance(seed, int) and _same(state, _seeded_state(name, seed))
        else state
        for name, state in states.items()
    }


def _restore_global_rngs(rng: dict[str, Any]) -> None:
    seeders: dict[str, Callable[[int], Any]] = {
        "python": random.seed,
        "numpy": np.random.seed,
        "torch": torch.manual_seed,
    }
    setters: dict[str, Callable[[Any], Any]] = {
        "python": random.setstate,
        "numpy": np.random.set_state,
        "torch": lambda saved: torch.set_rng_state(_torch_state(saved)),
    }
    for name, saved in ((n, rng[n]) for n in seeders):
        if isinstance(saved, dict) and "seeded" in saved:
            seeders[name](saved["seeded"])
        else:
            setters[name](saved)


@functools.lru_cache(maxsize=8)
def _seeded_state(name: str, seed: int) -> Any:
    """The state of a generator of that kind just seeded (a new one: the global is untouched)."""
    if name == "python":
        return random.Random(seed).getstate()
    if name == "numpy":
        return np.random.RandomState(seed).get_state()
    return _torch_rng(torch.Generator().manual_seed(seed).get_state())


def _same(a: Any, b: Any) -> bool:
    """Equal generator states: tuples compared at C speed (Python's 625 words: 0.5 ms less
    than one by one), item by item only where they hold arrays (NumPy's), whose == is not."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) != len(b):
            return False
        try:
            return bool(a == b)
        except ValueError:  # an array's truth value: compare the items
            return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# torch's CPU generator state (5056 bytes) keeps its 624 32-bit Mersenne Twister words in 64-bit
# slots from byte 24 on: half of it zeros, which zlib's fastest level barely shrinks.
_TORCH_WORDS = slice(24, 24 + 624 * 8)


def _torch_rng(state: torch.Tensor | None = None) -> bytes | dict:
    """torch's generator state, the zero upper halves of its words dropped (0.7 KB less) where
    they are all zero, so that packing is lossless whatever the layout; else as it is."""
    raw = (torch.get_rng_state() if state is None else state).numpy().tobytes()
    words = np.frombuffer(raw[_TORCH_WORDS], "<u8")
    if len(words) == 624 and not (words >> 32).any():
        return {"head": raw[: _TORCH_WORDS.start], "words": words.astype("<u4").tobytes(),
                "tail": raw[_TORCH_WORDS.stop :]}  # fmt: skip
    return raw


def _torch_state(saved: bytes | dict | torch.Tensor) -> torch.Tensor:
    """The tensor `_torch_rng` encoded (checkpoints written before it hold the tensor)."""
    if isinstance(saved, torch.Tensor):
        return saved
    if isinstance(saved, dict):
        words = np.frombuffer(saved["words"], "<u4").astype("<u8").tobytes()
        saved = saved["head"] + words + saved["tail"]
    return torch.frombuffer(bytearray(saved), dtype=torch.uint8)


class Restore(BaseCallback):
    """Restores a checkpoint's training state when training starts; the last callback, so
    that what the others set up at the start is overwritten by what they had."""

    def __init__(self, state: dict, siblings: list[BaseCallback]) -> None:
        super().__init__()
        self.state, self.siblings = state, siblings

    def _on_training_start(self) -> None:
        restore(self.model, self.siblings, self.state)

    def _on_step(self) -> bool:
        return True


def walk(callbacks: Iterable[BaseCallback]) -> Iterator[BaseCallback]:
    """Every callback, nested ones (an evaluation's after-eval list) too, in a fixed order;
    `Restore` itself left out."""
    for callback in callbacks:
        if isinstance(callback, Restore):
            continue
        yield callback
        if isinstance(callback, CallbackList):
            yield from walk(callback.callbacks)
        for name in ("callback", "callback_after_eval", "callback_on_new_best"):
            child = getattr(callback, name, None)
            if isinstance(child, BaseCallback):
                yield from walk([child])


def _evaluations(callbacks: list[BaseCallback]) -> list[Any]:
    """The callbacks that evaluate on an env of their own (SB3's EvalCallback and the like)."""
    return [c for c in callbacks if hasattr(c, "eval_env")]


def env_state(venv: VecEnv | None, what: str, inexact: list[str], arrays: Packer) -> bytes | None:
    """Each layer's attributes, links to the layers below aside, pickled, their arrays in
    `arrays`; None (and a reason in `inexact`) where they cannot be."""
    if venv is None:
        return None
    found = layers(venv)
    if isinstance(found[-1], SubprocVecEnv):
        inexact.append(f"{what} runs in subprocesses (vec_env=subproc): its envs are not saved")
        return None
    for env in getattr(found[-1], "envs", []):
        family = type(env.unwrapped).__module__
        if family.startswith(STATELESS_PICKLES):
            inexact.append(f"{what} ({family}) pickles without all of its simulator's state")
            break
    try:
        with _history_left_out(getattr(found[-1], "envs", [])):
            return dumps([arrays.attrs(_layer_state(layer)) for layer in found])
    except Exception as e:  # noqa: BLE001 - any env that does not pickle: resume, not exactly
        inexact.append(f"{what} cannot be saved ({type(e).__name__}: {e})")
        return None


@contextmanager
def _history_left_out(envs: Iterable[Any]) -> Iterator[None]:
    """The envs' Monitors with empty MONITOR_HISTORY lists while the state is pickled (a swap of
    references, undone after: the live lists are untouched)."""
    saved: list[tuple[Monitor, dict[str, Any]]] = []
    for env in envs:
        while isinstance(env, gymnasium.Wrapper):  # down the wrappers to the env itself
            if isinstance(env, Monitor):
                saved.append((env, {name: getattr(env, name) for name in MONITOR_HISTORY}))
                vars(env).update({name: [] for name in MONITOR_HISTORY})
            env = env.env
    try:
        yield
    finally:
        for monitor, lists in saved:
            vars(monitor).update(lists)


def _layer_state(layer: VecEnv) -> dict[str, Any]:
    skipped = (*_LINKS, *getattr(type(layer), TRANSIENT, ()))
    return {k: v for k, v in vars(layer).items() if k not in skipped}


def restore_env(venv: VecEnv | None, blob: bytes | None, arrays: Unpacker) -> None:
    if venv is None or blob is None:
        return
    found = layers(venv)
    states = pickle.loads(blob)
    if len(states) != len(found):
        raise ConfigError("the checkpoint's env has other wrappers than this run's; cannot resume")
    for env in getattr(found[-1], "envs", []):  # replaced by the saved ones
        env.close()
    for layer, attrs in zip(found, states, strict=True):
        vars(layer).update(arrays.attrs(attrs))


def layers(venv: VecEnv) -> list[VecEnv]:
    """The vec env and every wrapped one below it, outermost first."""
    found = [venv]
    while isinstance(found[-1], VecEnvWrapper):
        found.append(found[-1].venv)
    return found


def _logger_state(model: Any) -> dict[str, dict]:
    logger = model.logger
    return {
        attr: dict(getattr(logger, attr))
        for attr in ("name_to_value", "name_to_count", "name_to_excluded")
    }


def _plain_attrs(callback: BaseCallback) -> dict[str, Any]:
    """A callback's counters and records: numbers, flags, arrays and containers of them (no
    strings: paths name the machine that wrote them)."""
    return {
        k: v
        for k, v in vars(callback).items()
        if k not in _SKIPPED_CALLBACK_ATTRS and v is not None and _plain(v)
    }


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | np.generic | np.ndarray):
        return True
    if isinstance(value, list | tuple | deque):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False
