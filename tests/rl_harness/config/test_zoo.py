"""RL Zoo's hyperparameters converted to our plain YAML: the value forms, the report of what
could not be converted, our own files kept, and every converted pair composing and building."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rl_harness.config import zoo
from rl_harness.config.preflight import CONF_DIR
from tests.conftest import compose_config

CONVERTED = sorted(p for p in (CONF_DIR / "hparams").glob("*.yaml") if zoo.MARKER in p.read_text())


def test_python_strings_become_plain_values() -> None:
    text = "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256], vf=[256]))"  # noqa: E501
    assert zoo.python_value(text) == {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": "relu",
        "net_arch": {"pi": [256], "vf": [256]},
    }
    assert zoo.python_value("dict(optimizer_class=th.optim.Adam)") == {"optimizer_class": "Adam"}
    assert zoo.schedule("lin_7.3e-4") == {"schedule": "linear", "start": 7.3e-4, "end": 0.0}
    assert zoo.schedule(0.2) == 0.2
    assert zoo.wrappers(["a.B", {"c.D": {"k": 1}}]) == [
        {"_target_": "a.B"},
        {"_target_": "c.D", "k": 1},
    ]
    assert zoo.python_value(
        "dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5))"
    ) == {"optimizer_class": "RMSpropTFLike", "optimizer_kwargs": {"eps": 1e-5}}
    with pytest.raises(zoo.Unconvertible, match="MyOptimizer"):
        zoo.python_value("dict(optimizer_class=MyOptimizer)")


def test_an_entry_becomes_our_hparams_values() -> None:
    entry = {
        "n_timesteps": 1e6,
        "policy": "MlpPolicy",
        "normalize": "dict(norm_obs=True, norm_reward=False)",
        "noise_type": "normal",
        "noise_std": 0.1,
        "learning_rate": "lin_1e-3",
        "train_freq": [1, "episode"],
        "env_wrapper": [{"gymnasium.wrappers.TimeLimit": {"max_episode_steps": 100}}],
    }
    assert zoo.convert("td3", "X-v0", entry) == {
        "n_timesteps": 1_000_000,
        "env": {
            "normalize": {"norm_obs": True, "norm_reward": False},
            "wrappers": [{"_target_": "gymnasium.wrappers.TimeLimit", "max_episode_steps": 100}],
        },
        "algo": {
            "policy": "MlpPolicy",
            "learning_rate": {"schedule": "linear", "start": 1e-3, "end": 0.0},
            "train_freq": [1, "episode"],
            "action_noise": {"type": "normal", "sigma": 0.1},
        },
    }
    assert zoo.convert("ppo", "Pong", {"frame_stack": 4, "policy": "CnnPolicy"}) == {
        "env": {"frame_stack": 4},
        "algo": {"policy": "CnnPolicy"},
    }
    with pytest.raises(zoo.Unconvertible, match="callback"):
        zoo.convert("ppo", "X-v0", {"callback": "rl_zoo3.callbacks.ParallelTrainCallback"})


def test_conversion_writes_marked_files_keeps_ours_and_reports_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "hyperparams"
    folder.mkdir()
    (folder / "ppo.yml").write_text(
        "default: {policy: MlpPolicy}\n"
        "Pendulum-v1: {n_timesteps: !!float 1e5, policy: MlpPolicy, n_steps: 1024}\n"
        "CartPole-v1: {n_timesteps: !!float 1e5, policy: MlpPolicy}\n"
        "Hopper-v4: {policy: MlpPolicy}\n"
        "Acrobot-v1: {policy: MlpPolicy, callback: a.B}\n"
        "atari: {policy: CnnPolicy, frame_stack: 4}\n"
        "Swimmer-v2: {policy: MlpPolicy, gamma: 0.9}\n"
        "Swimmer-v4: {policy: MlpPolicy, gamma: 0.99}\n"
    )
    (folder / "her.yml").write_text("FetchReach-v1: {policy: MultiInputPolicy}\n")
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True)
    for name in ("pendulum", "cartpole", "acrobot", "pong", "breakout", "swimmer"):
        shutil.copy(CONF_DIR / "env" / f"{name}.yaml", conf / "env")
    (conf / "hparams").mkdir()
    ours = conf / "hparams" / "ppo_cartpole.yaml"
    ours.write_text("# @package _global_\n# hand-tuned\nn_timesteps: 5\n")
    results = zoo.write(zoo.convert_all(folder, conf), "9.9", conf)
    reasons = {(r.algo, r.env_id): r.reason for r in results}
    assert reasons[("ppo", "Pendulum-v1")] is None
    written = (conf / "hparams" / "ppo_pendulum.yaml").read_text()
    assert "RL Zoo 9.9, hyperparams/ppo.yml, key Pendulum-v1" in written
    assert OmegaConf.create(written).algo.n_steps == 1024
    assert "kept ours" in reasons[("ppo", "CartPole-v1")] and "n_timesteps: 5" in ours.read_text()
    assert "no env config" in reasons[("ppo", "Hopper-v4")]
    assert "callback" in reasons[("ppo", "Acrobot-v1")]
    assert "fallback" in reasons[("ppo", "default")]
    assert "no algo config" in reasons[("her", "FetchReach-v1")]
    # RL Zoo's atari block, once per Atari env of ours, each file saying which env it is for
    for env, game in (("pong", "Pong"), ("breakout", "Breakout")):
        atari = (conf / "hparams" / f"ppo_{env}.yaml").read_text()
        assert f"key atari (RL Zoo's block for every Atari env, here {game}NoFrameskip-v4)" in atari
        assert OmegaConf.create(atari).env.frame_stack == 4
    # Swimmer-v5 here: the newest of RL Zoo's versions is written, the other reported
    swimmer = (conf / "hparams" / "ppo_swimmer.yaml").read_text()
    assert "key Swimmer-v4 (tuned on Swimmer-v4; ours is Swimmer-v5)" in swimmer
    assert OmegaConf.create(swimmer).algo.gamma == 0.99
    assert reasons[("ppo", "Swimmer-v2")] == "superseded by key Swimmer-v4 (same file)"
    table = zoo.report(results, "9.9")
    assert table.count("\n|") == len(results) + 2  # the header, the rule, a row per entry
    assert "4 of 10 entries converted" in table


def pair(path: Path) -> tuple[str, str]:
    """(algo, env) of a converted file `<algo>_<env>.yaml` (both may contain `_`)."""
    stem = path.stem
    algo = next(
        a for a in sorted(zoo.ALGOS.values(), key=len, reverse=True) if stem.startswith(a + "_")
    )
    return algo, stem.removeprefix(algo + "_")


def test_the_shipped_conversion_is_there_and_reported() -> None:
    assert len(CONVERTED) >= 60
    assert zoo.REPORT.exists() and "kept ours" in zoo.REPORT.read_text()


@pytest.mark.parametrize("path", CONVERTED, ids=lambda p: p.stem)
def test_every_converted_pair_composes_and_validates(path: Path) -> None:
    from rl_harness.training import train

    algo, env = pair(path)
    cfg = compose_config([f"algo={algo}", f"env={env}"])
    assert cfg.n_timesteps == OmegaConf.load(path).n_timesteps  # the file was picked up
    train.validate(cfg)  # keys against the constructor, types, schedules, the env id


@pytest.mark.slow
@pytest.mark.parametrize("path", CONVERTED, ids=lambda p: p.stem)
def test_every_converted_pair_builds_and_steps(path: Path) -> None:
    from rl_harness.build import make as build
    from rl_harness.build import registry
    from rl_harness.training import train

    algo, env = pair(path)
    small = ["n_envs=2"]  # and a small replay buffer: 1e6 transitions is memory, not a check
    if "buffer_size" in registry.accepted_keys(registry.get_class(algo)):
        small.append("++algo.buffer_size=1000")
    cfg = compose_config([f"algo={algo}", f"env={env}", *small])
    _, kwargs = train.validate(cfg)
    venv = build.make_env(cfg)
    model = build.make_model(cfg, venv, kwargs)
    obs = venv.reset()
    for _ in range(4):
        action, _ = model.predict(obs)
        obs, reward, _, _ = venv.step(action)
    assert reward.shape == (2,)
    venv.close()
