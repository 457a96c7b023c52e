"""RL Zoo's tuned hyperparameters as our `conf/hparams/<algo>_<env>.yaml`, in plain YAML.

    pip install --no-deps rl_zoo3          # at conversion time only, not a runtime dependency
    python -m rl_harness.config.zoo        # rewrite the converted files and the report
    python -m rl_harness.config.zoo --zoo path/to/rl_zoo3/hyperparams --dry-run

RL Zoo's files hold Python strings evaluated at load time and a `lin_<x>` mini-language; ours
hold what the builder validates (build/make.py):

    lin_3e-4                                  → {schedule: linear, start: 3.0e-4, end: 0.0}
    "dict(net_arch=[64, 64], activation_fn=nn.ReLU)"
                                              → {net_arch: [64, 64], activation_fn: relu}
    normalize: true | "dict(norm_obs=...)"    → env.normalize: true | {norm_obs: ...}
    noise_type: normal, noise_std: 0.1        → algo.action_noise: {type: normal, sigma: 0.1}
    env_wrapper: a.b.Wrapper | [{a.b.W: {k: v}}]   → env.wrappers: [{_target_: a.b.W, k: v}]
    frame_stack: 4                            → env.frame_stack: 4
    n_timesteps: !!float 1e6                  → n_timesteps: 1000000
    the rest                                  → algo.<key> (the build test judges it)

Every file starts with its provenance (RL Zoo version, file, key). An entry that cannot be
converted, or whose env has no config here, is listed with the reason in the report
(`experiments/results/zoo_conversion.md`, rendered from its record `zoo_conversion.json`: every
entry, its file or its reason, and what produced it); none is dropped silently. A file without the
provenance marker (our own tuned files: the custom task, Q-learning, hand-made ones) is never
overwritten.

Keys are matched to our env configs by their id; failing that, by the same env at another
version (RL Zoo's MuJoCo keys are -v4 and -v2, Gymnasium 1.x's current ids -v5), said in the
provenance line. RL Zoo's `atari` block, which it applies to every env whose entry point is
ALE's `AtariEnv`, is written for each of our Atari env configs.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from omegaconf import OmegaConf

from rl_harness.common import tables
from rl_harness.config.preflight import CONF_DIR

MARKER = "# Converted from RL Zoo"
REPORT = CONF_DIR.parent / "experiments" / "results" / "zoo_conversion.md"
RECORD = REPORT.with_suffix(".json")  # the report's record: REPORT is rendered from it
COMMAND = "python -m rl_harness.config.zoo"
# RL Zoo's file name → our algo config name
ALGOS = {
    "a2c": "a2c", "ars": "ars", "crossq": "crossq", "ddpg": "ddpg", "dqn": "dqn", "ppo": "ppo",
    "ppo_lstm": "recurrent_ppo", "qrdqn": "qrdqn", "sac": "sac", "td3": "td3", "tqc": "tqc",
    "trpo": "trpo",
}  # fmt: skip
# Env ids whose config is not found by its `id` alone (kwargs select the variant).
ENV_ALIASES = {"LunarLanderContinuous-v3": "lunarlander_continuous"}
# Optimizers RL Zoo names without a module (SB3's TensorFlow-like RMSprop).
OPTIMIZERS = {"RMSpropTFLike"}
ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "ELU": "elu", "SELU": "selu", "GELU": "gelu",
               "SiLU": "silu", "LeakyReLU": "leaky_relu"}  # fmt: skip
NOISES = {"normal": "normal", "ornstein-uhlenbeck": "ornstein_uhlenbeck"}
# Keys we cannot express yet, and why.
UNSUPPORTED = {
    "replay_buffer_class": "HER replay buffers are not supported",
    "model_class": "HER is not supported",
    "callback": "RL Zoo callbacks are not supported",
    "normalize_kwargs": "normalize_kwargs is not supported",
}


class Unconvertible(ValueError):
    """An entry we cannot express; its message is the report's reason."""


@dataclass
class Converted:
    algo: str
    env_id: str
    values: dict[str, Any] = field(default_factory=dict)
    env: str | None = None  # our env config name
    reason: str | None = None  # why it was not written
    note: str = ""  # how the key maps to our env, where not by its exact id


# ---------------------------------------------------------------- values


def python_value(text: str) -> Any:
    """RL Zoo's evaluated strings: `dict(...)`, lists, numbers, `nn.<Activation>`,
    `th.optim.<Optimizer>`; anything else is Unconvertible."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise Unconvertible(f"cannot parse {text!r}") from None
    return _node(tree, text)


def _node(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_node(e, text) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_node(node.operand, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg: _node(k.value, text) for k in node.keywords}
    if isinstance(node, ast.Dict):
        pairs = zip(node.keys, node.values, strict=True)
        return {_node(k, text): _node(v, text) for k, v in pairs if k is not None}
    if isinstance(node, ast.Name) and node.id in OPTIMIZERS:
        return node.id
    if isinstance(node, ast.Attribute):
        dotted = ast.unparse(node)
        name = dotted.rsplit(".", 1)[-1]
        if dotted.startswith(("nn.", "th.nn.", "torch.nn.")) and name in ACTIVATIONS:
            return ACTIVATIONS[name]
        if dotted.startswith(("th.optim.", "torch.optim.")):
            return name
    raise Unconvertible(f"cannot express {ast.unparse(node)!r} (in {text!r})")


def schedule(value: Any) -> Any:
    """`lin_<x>` → a linear schedule from x to 0; anything else unchanged."""
    if isinstance(value, str) and value.startswith("lin_"):
        return {"schedule": "linear", "start": float(value[4:]), "end": 0.0}
    return value


def wrappers(value: Any) -> list[dict[str, Any]]:
    """`env_wrapper` (a path, a {path: kwargs} mapping, or a list of them) → Hydra nodes."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append({"_target_": item})
        elif isinstance(item, dict) and len(item) == 1:
            [(path, kwargs)] = item.items()
            out.append({"_target_": path, **(kwargs or {})})
        else:
            raise Unconvertible(f"env_wrapper {item!r}")
    return out


# ---------------------------------------------------------------- entries


def convert(algo: str, env_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One RL Zoo entry as our hparams file's values (`n_timesteps`, `n_envs`, `env.*`,
    `algo.*`)."""
    for key, why in UNSUPPORTED.items():
        if key in entry:
            raise Unconvertible(f"{key}: {why}")
    out: dict[str, Any] = {}
    algo_values: dict[str, Any] = {}
    env_values: dict[str, Any] = {}
    noise = {k: entry[k] for k in ("noise_type", "noise_std") if k in entry}
    for key, raw in entry.items():
        evaluated = isinstance(raw, str) and raw.strip().startswith(("dict(", "{", "[", "nn."))
        value = python_value(raw) if evaluated else raw
        if key == "n_timesteps":
            out["n_timesteps"] = int(float(value))
        elif key == "n_envs":
            out["n_envs"] = int(value)
        elif key == "normalize":
            env_values["normalize"] = value
        elif key == "env_wrapper":
            env_values["wrappers"] = wrappers(value)
        elif key == "frame_stack":
            env_values["frame_stack"] = int(value)
        elif key in ("noise_type", "noise_std"):
            continue
        else:
            algo_values[key] = schedule(value)
    if noise:
        kind = noise.get("noise_type")
        if kind not in NOISES:
            raise Unconvertible(f"noise_type {kind!r}")
        algo_values["action_noise"] = {"type": NOISES[kind], "sigma": float(noise["noise_std"])}
    if env_values:
        out["env"] = env_values
    out["algo"] = algo_values
    return out


def env_ids(conf: Path = CONF_DIR) -> dict[str, str]:
    """Our env config name → its `id` (`module:Id` where a module registers it)."""
    return {
        path.stem: str(OmegaConf.select(OmegaConf.load(path), "id", default=""))
        for path in sorted((conf / "env").glob("*.yaml"))
    }


def env_names(ids: dict[str, str]) -> dict[str, str]:
    """RL Zoo env id → our env config name (first name wins)."""
    names: dict[str, str] = {}
    for name, env_id in ids.items():
        names.setdefault(env_id.split(":")[-1], name)
    names.update(ENV_ALIASES)
    return names


def match_env(env_id: str, names: dict[str, str]) -> tuple[str | None, str]:
    """Our env config for an RL Zoo key, and a note where it is the same env at another
    version (only where exactly one of ours has that name)."""
    if env_id in names:
        return names[env_id], ""
    same = [ours for ours in names if _base(ours) == _base(env_id)]
    if len(same) == 1:
        return names[same[0]], f"tuned on {env_id}; ours is {same[0]}"
    return None, ""


def _base(env_id: str) -> str:
    return env_id.rsplit("-v", 1)[0]


def _version(env_id: str) -> int:
    tail = env_id.rsplit("-v", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def atari_envs(ids: dict[str, str]) -> dict[str, str]:
    """Our env configs whose id is an ALE `AtariEnv` (RL Zoo's test for its `atari` block):
    config name → env id."""
    found = {}
    for config, env_id in ids.items():
        module, _, name = env_id.rpartition(":")
        try:
            if module:
                importlib.import_module(module)
            entry_point = str(gym.spec(name).entry_point)
        except (gym.error.Error, ImportError):
            continue
        if "AtariEnv" in entry_point:
            found[config] = name
    return found


def convert_all(zoo: Path, conf: Path = CONF_DIR) -> list[Converted]:
    """Every entry of every algorithm file we have an algo config for (the `atari` block once
    per Atari env of ours); where two keys land on one file, the exact id or newest version
    wins and the other says so."""
    ids = env_ids(conf)
    names, atari, results = env_names(ids), atari_envs(ids), []
    for path in sorted(zoo.glob("*.yml")):
        algo = ALGOS.get(path.stem)
        entries = yaml.safe_load(path.read_text()) or {}
        for env_id, entry in entries.items():
            if algo is not None and env_id == "atari" and atari:
                note = "RL Zoo's block for every Atari env, here {}"
                for env, atari_id in atari.items():
                    results.append(_converted(algo, env_id, entry, env, note.format(atari_id)))
                continue
            ours, note = match_env(env_id, names)
            if algo is None:
                reason = f"no algo config for RL Zoo's {path.stem}"
            elif env_id in ("default", "atari"):
                reason = "a fallback block, not an env: applied by RL Zoo at load time"
            elif ours is None:
                reason = f"no env config for {env_id} here"
            else:
                results.append(_converted(algo, env_id, entry, ours, note))
                continue
            results.append(Converted(algo or path.stem, env_id, reason=reason))
    return _one_per_file(results)


def _converted(algo: str, env_id: str, entry: dict[str, Any], env: str, note: str) -> Converted:
    result = Converted(algo, env_id, env=env, note=note)
    try:
        result.values = convert(algo, env_id, entry)
    except Unconvertible as e:
        result.reason = str(e)
    return result


def _one_per_file(results: list[Converted]) -> list[Converted]:
    """Where two keys (HumanoidStandup-v2 and -v4) map to one file, the exact id, else the
    newest version, is written; the other is reported as superseded."""

    def rank(r: Converted) -> tuple[bool, int]:
        return not r.note, _version(r.env_id)

    winners: dict[tuple[str, str | None], Converted] = {}
    for r in results:
        key = (r.algo, r.env)
        if r.reason is None and (key not in winners or rank(r) > rank(winners[key])):
            winners[key] = r
    for r in results:
        if r.reason is None and (won := winners[(r.algo, r.env)]) is not r:
            r.reason = f"superseded by key {won.env_id} (same file)"
    return results


# ---------------------------------------------------------------- files


def write(results: list[Converted], version: str, conf: Path = CONF_DIR) -> list[Converted]:
    """The converted files (never over a file without the marker); a reason for the rest."""
    for r in results:
        if r.reason or r.env is None:
            continue
        path = conf / "hparams" / f"{r.algo}_{r.env}.yaml"
        if path.exists() and MARKER not in path.read_text():
            r.reason = f"kept ours: {path.name} is not a converted file"
            continue
        body = OmegaConf.to_yaml(OmegaConf.create(r.values))
        note = f" ({r.note})" if r.note else ""
        path.write_text(
            f"# @package _global_\n{MARKER} {version}, hyperparams/"
            f"{_zoo_file(r.algo)}.yml, key {r.env_id}{note}\n"
            "# (python -m rl_harness.config.zoo rewrites this file; edit RL Zoo's, or drop "
            "the marker to keep your own)\n" + body
        )
    return results


def _zoo_file(algo: str) -> str:
    return next((k for k, v in ALGOS.items() if v == algo), algo)


def report(results: list[Converted], version: str) -> str:
    written = [r for r in results if not r.reason]
    rows = [
        [
            r.algo,
            r.env_id,
            f"{r.algo}_{r.env}.yaml" if not r.reason else "",
            r.reason or ("converted" + (f" ({r.note})" if r.note else "")),
        ]
        for r in sorted(results, key=lambda r: (r.reason is not None, r.algo, r.env_id))
    ]
    head = (
        f"# RL Zoo {version} → conf/hparams\n\n_{len(written)} of {len(results)} entries "
        "converted (RL Zoo's `atari` block counted once per Atari env of ours); the rest with "
        "the reason. Generated by `python -m rl_harness.config.zoo`._\n\n"
    )
    return head + tables.markdown(["algo", "RL Zoo key", "our file", "result"], rows) + "\n"


def record(results: list[Converted], version: str) -> dict[str, Any]:
    """The report's record: every entry (its file or its reason) and what produced it."""
    import os
    import platform

    from rl_harness.common import provenance

    facts = provenance.facts()
    return {
        "command": COMMAND,
        "commit": facts.get(provenance.COMMIT_TAG, "unknown"),
        "dirty": facts.get(provenance.DIRTY_TAG, "unknown"),
        "machine": f"{facts[provenance.CPU_TAG]}, {os.cpu_count()} cores, {platform.platform()}",
        "versions": {
            k.removeprefix(provenance.VERSION_PREFIX): v
            for k, v in facts.items()
            if k.startswith(provenance.VERSION_PREFIX)
        },  # fmt: skip
        "rl_zoo3": version,
        "entries": entries(results),
    }


def entries(results: list[Converted]) -> list[dict[str, Any]]:
    """Each entry as the record holds it: its key, our env, its reason or its note."""
    return [
        {"algo": r.algo, "env_id": r.env_id, "env": r.env, "reason": r.reason, "note": r.note}
        for r in results
    ]


def render(data: dict[str, Any]) -> str:
    """The report, from its record alone."""
    entries = [Converted(e["algo"], e["env_id"], {}, e["env"], e["reason"], e["note"])
               for e in data["entries"]]  # fmt: skip
    return report(entries, data["rl_zoo3"])


def zoo_dir() -> tuple[Path, str]:
    """The installed rl_zoo3's hyperparams folder and version."""
    spec = importlib.util.find_spec("rl_zoo3")
    if spec is None or spec.origin is None:
        raise SystemExit("rl_zoo3 is not installed: pip install --no-deps rl_zoo3 (or --zoo DIR)")
    root = Path(spec.origin).parent
    return root / "hyperparams", (root / "version.txt").read_text().strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, help="a hyperparams folder (default: rl_zoo3's)")
    ap.add_argument("--version", default=None, help="the version to record with --zoo")
    ap.add_argument("--dry-run", action="store_true", help="print the report, write nothing")
    args = ap.parse_args()
    folder, version = (args.zoo, args.version or "?") if args.zoo else zoo_dir()
    results = convert_all(folder)
    if not args.dry_run:
        facts = record(results, version)  # the code as the conversion found it
        write(results, version)  # which may keep one of ours: a reason more
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps({**facts, "entries": entries(results)}, indent=1) + "\n")
        REPORT.write_text(render(json.loads(RECORD.read_text())))
    print(report(results, version))


if __name__ == "__main__":
    main()
