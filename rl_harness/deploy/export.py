"""ONNX export of a trained policy: raw observations in, deterministic actions out.

SB3's documented approach (docs "Exporting models"): wrap the policy in a `torch.nn.Module`
whose forward is the deterministic action and export it with `torch.onnx.export`. Added here:
VecNormalize's observation statistics before the policy and SB3's action post-processing
after it (unscale squashed actions, clip the others), so that the graph maps what the env
gives to what the env takes, exactly as `model.predict(normalized obs, deterministic=True)`.

A tabular agent (no torch policy, e.g. Q-learning) on a Discrete / MultiDiscrete observation
space is exported as its greedy table: index = sum((obs - start) * strides), action =
Gather(table, index). Recurrent policies are refused (their state is not an input here).

    python -m rl_harness.export run_id=<id> [out=policy.onnx] [checkpoint=final]
    python -m rl_harness.export model_path=<model.zip> [config=...] [out=...]
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from omegaconf import DictConfig

from rl_harness.common import compat
from rl_harness.config import commands
from rl_harness.errors import ConfigError
from rl_harness.training import saved_agent as agents

OPSET = 18
MAX_TABLE_STATES = 10_000_000
INPUT, OUTPUT = "observation", "action"


class OnnxablePolicy(torch.nn.Module):
    """normalize → policy._predict(deterministic=True) → SB3's action post-processing."""

    mean: torch.Tensor  # buffers, registered when the policy needs them
    scale: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, policy: Any, normalizer: agents.ObsNormalizer | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.normalize = normalizer is not None
        if normalizer is not None:
            self.register_buffer("mean", torch.as_tensor(normalizer.mean, dtype=torch.float32))
            self.register_buffer(
                "scale",
                torch.as_tensor(
                    1.0 / np.sqrt(normalizer.var + normalizer.epsilon), dtype=torch.float32
                ),
            )
            self.clip = float(normalizer.clip)
        space = policy.action_space
        self.box = isinstance(space, spaces.Box)
        if self.box:
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            observation = torch.clamp((observation - self.mean) * self.scale, -self.clip, self.clip)
        actions = compat.deterministic_action(self.policy, observation)
        if self.box:
            if self.policy.squash_output:
                return self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
            return torch.clamp(actions, self.low, self.high)
        return actions


def export(model: Any, path: Path, normalizer: agents.ObsNormalizer | None = None) -> Path:
    """Write `model`'s deterministic policy to `path` as ONNX (input float32 (n, *obs shape))."""
    if not hasattr(model, "policy"):
        return export_table(model, path)
    policy = model.policy
    if hasattr(policy, "lstm_actor") or "Recurrent" in type(policy).__name__:
        raise ConfigError(
            "recurrent policies are not exported: their hidden state is not an "
            "input of the exported graph"
        )
    if isinstance(policy.observation_space, spaces.Dict | spaces.Tuple):
        raise ConfigError("Dict / Tuple observation spaces are not exported")
    policy = policy.to("cpu").eval()
    module = OnnxablePolicy(policy, normalizer).eval()
    dummy = torch.as_tensor(np.stack([policy.observation_space.sample()] * 2), dtype=torch.float32)
    # The TorchScript exporter (dynamo=False), as SB3's docs use it: the torch.export-based one
    # fails on the data-dependent argument checks of torch.distributions.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            module,
            (dummy,),
            str(path),
            input_names=[INPUT],
            output_names=[OUTPUT],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )
    return path


def export_table(model: Any, path: Path) -> Path:
    """A tabular agent's greedy actions for every observation, as an ONNX Gather graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    space = model.observation_space
    shape: list[int | None]
    if isinstance(space, spaces.Discrete):
        nvec, start, shape = np.array([space.n]), np.array([space.start]), [None]
    elif isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
        nvec, start, shape = space.nvec, space.start, [None, len(space.nvec)]
    else:
        raise ConfigError(
            f"a model without a torch policy ({type(model).__name__}) is exported "
            "as a lookup table, which needs a Discrete or MultiDiscrete "
            f"observation space, not {space}"
        )
    n_states = int(np.prod(nvec))
    if n_states > MAX_TABLE_STATES:
        raise ConfigError(
            f"{n_states} observations are too many for a lookup table (max {MAX_TABLE_STATES})"
        )
    grid = np.stack(np.unravel_index(np.arange(n_states), nvec), axis=-1) + start
    obs = grid[:, 0] if isinstance(space, spaces.Discrete) else grid
    actions = np.asarray(model.predict(obs, deterministic=True)[0]).astype(np.int64)
    strides = np.array([int(np.prod(nvec[i + 1 :])) for i in range(len(nvec))], dtype=np.int64)
    const = {
        "start": start.astype(np.int64),
        "strides": strides,
        "table": actions,
        "axes": np.array([-1], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Cast", [INPUT], ["obs_int"], to=TensorProto.INT64),
        helper.make_node("Sub", ["obs_int", "start"], ["offset"]),
        helper.make_node("Mul", ["offset", "strides"], ["weighted"]),
    ]
    if isinstance(space, spaces.Discrete):
        nodes.append(helper.make_node("Identity", ["weighted"], ["index"]))
    else:
        nodes.append(helper.make_node("ReduceSum", ["weighted", "axes"], ["index"], keepdims=0))
    nodes.append(helper.make_node("Gather", ["table", "index"], [OUTPUT], axis=0))
    graph = helper.make_graph(
        nodes,
        "greedy_table",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.INT64, [None])],
        initializer=[numpy_helper.from_array(v, k) for k, v in const.items()],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(path))
    return path


def export_agent(agent: agents.TrainedAgent, path: Path) -> Path:
    normalizer = (
        agents.ObsNormalizer.from_vecnormalize(agent.vecnormalize_path)
        if agent.vecnormalize_path
        else None
    )
    if normalizer is not None and not hasattr(agent.model, "policy"):
        raise ConfigError("a lookup-table export cannot include observation normalization")
    return export(agent.model, path, normalizer)


def main(argv: list[str]) -> None:
    run(commands.load("export", argv))


def run(cfg: DictConfig) -> None:
    """Export the agent a checked conf/export.yaml names (config.commands.load)."""
    with tempfile.TemporaryDirectory() as tmp:
        agent = (
            agents.from_run(str(cfg.run_id), Path(tmp), cfg.checkpoint)
            if cfg.run_id
            else agents.from_path(cfg.model_path, cfg.config)
        )
        out = export_agent(agent, Path(cfg.out))
    print(
        f"exported {agent.algo} policy to {out} (input '{INPUT}': float32 raw observations, "
        f"batch first; output '{OUTPUT}')"
    )
