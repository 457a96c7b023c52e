"""Every shipped algorithm × environment composes and builds (or is refused, clearly)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.atari_wrappers import AtariWrapper
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.vec_env import SubprocVecEnv, VecNormalize

from rl_harness.build import make as build
from rl_harness.build import registry as algos
from rl_harness.config.preflight import group_options
from rl_harness.errors import ConfigError
from rl_harness.training import train
from tests.conftest import compose_config

DISCRETE_ONLY = {"dqn", "qrdqn", "maskable_ppo", "qlearning"}
BOX_ONLY = {"sac", "td3", "ddpg", "tqc", "crossq"}
ALGOS = group_options("algo")
# MuJoCo: one env in the fast suite; the others, and Atari (a CNN per algorithm, ~1 s each:
# its preprocessing has a fast test of its own), in the slow suite (CI's).
ONE_OF_A_FAMILY = {"hopper"}


def _family(name: str) -> str:
    env_id = str(compose_config([f"env={name}"]).env.id)
    if env_id.startswith("ale_py:"):
        return "atari"
    build.check_env_id(env_id)  # imports the module of a `module:Id`, which registers it
    return "mujoco" if "mujoco" in str(gym.spec(env_id.split(":")[-1]).entry_point) else ""


ENVS = [
    name
    if name in ONE_OF_A_FAMILY or not _family(name)
    else pytest.param(name, marks=pytest.mark.slow)
    for name in group_options("env")
]


def test_every_registered_algorithm_has_a_config_and_back() -> None:
    assert set(ALGOS) == set(algos.REGISTRY)
    for name in ALGOS:
        assert compose_config([f"algo={name}"]).algo.name == name


@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("algo_name", ALGOS)
def test_build_every_pair(algo_name: str, env_name: str) -> None:
    small = ["n_envs=1"]  # and a small replay buffer: 1e6 Atari frames are memory, not a check
    if "buffer_size" in algos.accepted_keys(algos.get_class(algo_name)):
        small.append("++algo.buffer_size=1000")
    cfg = compose_config([f"algo={algo_name}", f"env={env_name}", *small])
    _, kwargs = train.validate(cfg)
    env = build.make_env(cfg)
    try:
        discrete = isinstance(env.action_space, gym.spaces.Discrete)
        refused = (
            (algo_name in DISCRETE_ONLY and not discrete)
            or (algo_name in BOX_ONLY and discrete)
            or (  # table > max_table_mb
                algo_name == "qlearning" and (env_name == "lunarlander" or _family(env_name))
            )
            or (
                # sb3-contrib's LSTM rejects the numpy-int feature size SB3 computes for
                # MultiDiscrete observations (input_size should be of type int, got: int64)
                algo_name == "recurrent_ppo" and env_name.startswith("custom")
            )
        )
        if refused:
            with pytest.raises(ConfigError, match=f"algo={algo_name} cannot train on env"):
                build.make_model(cfg, env, kwargs)
        else:
            model = build.make_model(cfg, env, kwargs)
            action, _ = model.predict(env.reset(), deterministic=True)
            assert env.action_space.contains(action[0] if discrete else action[0].astype("float32"))
    finally:
        env.close()


def test_hparams_are_picked_for_the_pair_only() -> None:
    tuned = compose_config(["algo=ppo", "env=cartpole"])
    plain = compose_config(["algo=ppo", "env=taxi"])  # no ppo_taxi.yaml
    assert tuned.algo.n_steps == 32 and tuned.n_envs == 8
    assert plain.algo.n_steps == 2048 and plain.n_envs == 1


def test_command_line_overrides_beat_hparams() -> None:
    cfg = compose_config(["algo=ppo", "env=cartpole", "algo.n_steps=64", "n_envs=2"])
    assert cfg.algo.n_steps == 64 and cfg.n_envs == 2


def test_schedules_and_policy_kwargs_become_objects() -> None:
    cfg = compose_config(
        [
            "algo=ppo",
            "env=cartpole",
            "++algo.policy_kwargs={net_arch: {pi: [8], vf: [16]}, "
            "activation_fn: relu, optimizer_class: RMSprop}",
        ]
    )
    cls, kwargs = train.validate(cfg)
    lr = kwargs["learning_rate"]
    assert lr(1.0) == pytest.approx(1e-3) and lr(0.0) == pytest.approx(0.0)
    assert lr(0.5) == pytest.approx(5e-4)
    pk = kwargs["policy_kwargs"]
    assert pk["activation_fn"] is torch.nn.ReLU and pk["optimizer_class"] is torch.optim.RMSprop
    assert type(pk["net_arch"]) is dict  # a plain dict, not a DictConfig
    env = build.make_env(cfg)
    model = build.make_model(cfg, env, kwargs)
    assert model.policy.mlp_extractor.policy_net[0].out_features == 8
    env.close()


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [("activation_fn", "swish", "relu"), ("optimizer_class", "Lion", "RMSprop")],
)
def test_an_unknown_policy_class_name_is_refused_naming_key_and_choices(
    key: str, value: str, allowed: str
) -> None:
    cfg = compose_config(["algo=ppo", "env=cartpole", f"++algo.policy_kwargs={{{key}: {value}}}"])
    with pytest.raises(ConfigError) as e:
        train.validate(cfg)
    msg = str(e.value)
    assert f"algo.policy_kwargs.{key} '{value}' is unknown" in msg and allowed in msg


def test_a_schedule_where_the_constructor_takes_only_a_number_is_refused() -> None:
    # SB3 would store the callable and fail mid-training (gamma * reward): say so up front
    cfg = compose_config(
        ["algo=ppo", "env=cartpole", "++algo.gamma={schedule: linear, start: 0.9}"]
    )
    with pytest.raises(ConfigError) as e:
        train.validate(cfg)
    assert str(e.value) == (
        "algo.gamma of ppo takes a number, not a schedule; "
        "schedules: learning_rate, clip_range, clip_range_vf"
    )


def test_action_noise_built_for_the_action_dimension() -> None:
    cfg = compose_config(["algo=td3", "env=pendulum"])
    _, kwargs = train.validate(cfg)
    env = build.make_env(cfg)
    model = build.make_model(cfg, env, kwargs)
    assert isinstance(model.action_noise, NormalActionNoise)
    assert model.action_noise._sigma.shape == (1,)
    env.close()


def test_train_freq_list_becomes_tuple() -> None:
    cfg = compose_config(["algo=dqn", "++algo.train_freq=[1, episode]"])
    _, kwargs = train.validate(cfg)
    assert kwargs["train_freq"] == (1, "episode")


def test_vec_env_kinds_and_normalize() -> None:
    cfg = compose_config(["env=pendulum", "n_envs=2", "vec_env=subproc", "env.normalize=true"])
    env = build.make_env(cfg)
    eval_env = build.make_env(cfg, evaluation=True)
    try:
        assert isinstance(env, VecNormalize) and isinstance(env.venv.venv, SubprocVecEnv)
        assert env.num_envs == 2 and env.training
        assert isinstance(eval_env, VecNormalize) and not eval_env.training
        assert not eval_env.norm_reward
    finally:
        env.close()
        eval_env.close()


def test_atari_frames_are_preprocessed_and_stacked_as_rl_zoo_trains_them() -> None:
    cfg = compose_config(["algo=a2c", "env=pong", "n_envs=2"])
    _, kwargs = train.validate(cfg)
    assert kwargs["policy"] == "CnnPolicy"  # conf/hparams/a2c_pong.yaml, from RL Zoo's atari block
    assert kwargs["policy_kwargs"]["optimizer_class"] is RMSpropTFLike
    env = build.make_env(cfg)
    try:
        assert any(isinstance(w, AtariWrapper) for w in _wrappers(env.unwrapped.envs[0]))
        assert env.observation_space.shape == (84, 84, 4)  # grey 84x84 frames, the last 4
        first = env.reset()
        obs, *_ = env.step(np.zeros(2, dtype=int))
        # each step shifts the stack by one frame: the newest of the first is now second-newest
        assert np.array_equal(obs[..., 2], first[..., 3])
    finally:
        env.close()
    for bad in ("0", "true", "'4'"):
        with pytest.raises(ConfigError, match="env.frame_stack=.* must be a positive integer"):
            train.validate(compose_config(["env=cartpole", f"env.frame_stack={bad}"]))


def _wrappers(env: gym.Env) -> list[gym.Env]:
    chain = [env]
    while isinstance(chain[-1], gym.Wrapper):
        chain.append(chain[-1].env)
    return chain


def test_wrappers_from_config() -> None:
    cfg = compose_config(
        ["env=pendulum", "env.wrappers=[{_target_: gymnasium.wrappers.TimeAwareObservation}]"]
    )
    env = build.make_env(cfg)
    assert env.observation_space.shape == (4,)  # 3 + the time feature
    env.close()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "FrozenLake-v1", "Pendulum-v1"])
def test_shallow_dummy_vec_env_steps_like_sb3s(env_id: str) -> None:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    ours = make_vec_env(env_id, n_envs=3, seed=5, vec_env_cls=build.ShallowDummyVecEnv)
    sb3 = make_vec_env(env_id, n_envs=3, seed=5, vec_env_cls=DummyVecEnv)
    assert (ours.reset() == sb3.reset()).all()
    rng = np.random.default_rng(0)
    if isinstance(ours.action_space, gym.spaces.Discrete):
        actions = rng.integers(ours.action_space.n, size=(300, 3))
    else:
        actions = rng.uniform(-2, 2, size=(300, 3, 1)).astype(np.float32)
    for a in actions:
        o1, r1, d1, i1 = ours.step(a)
        o2, r2, d2, i2 = sb3.step(a)
        assert (o1 == o2).all() and (r1 == r2).all() and (d1 == d2).all()
        assert not np.shares_memory(o1, ours.buf_obs[None])  # a copy, as SB3's deepcopy gave
        for x, y in zip(i1, i2, strict=True):
            assert x.keys() == y.keys()
            if "terminal_observation" in x:
                assert np.array_equal(x["terminal_observation"], y["terminal_observation"])
