"""Crash-safe checkpoints: one directory per checkpoint, written aside and renamed into place.

    <out_dir>/checkpoints/step_000012000/model.zip          model + optimizer state (SB3 zip),
                                                            and training_state.pkl inside it:
                                                            RNGs, envs, callbacks (exact_state),
                                                            whose model attributes SB3's data
                                                            then leaves out (`_not_twice`)
                                         replay_buffer.pkl  off-policy algorithms, if enabled:
                                                            only its filled rows (trimmed)
                                         vecnormalize.pkl   when the env is normalized

A kill during a write leaves only a `.tmp-*` directory, never a corrupt latest checkpoint.
A replay buffer is written up to its filled size (`trimmed`: a 1M-transition buffer after 20k steps
is 2% of its size) and grown back on load (`untrimmed`) to the same arrays — zeros beyond the
filled rows, as SB3 allocates them — with the same `pos` and `full`: sampling is unchanged.
A finished run keeps its newest `checkpoint.keep_finished` checkpoints (`finish`).
SB3 files are pickles: load checkpoints only from a run's own output directory.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rl_harness.errors import ConfigError

if TYPE_CHECKING:  # SB3 (and torch) load only when a checkpoint is: `resume` fails fast without
    from stable_baselines3.common.vec_env import VecEnv

PREFIX = "step_"
STATE_FILE = "training_state.pkl"  # an entry of model.zip (a file beside it until 2026-12-07)
STATE_FORMAT = 2  # 2: arrays packed (training.packing); read_state refuses others
READABLE_FORMATS = (1, STATE_FORMAT)


def save(
    model: Any, root: Path, keep: int, replay_buffer: bool = True, state: dict | None = None
) -> Path:
    """Write a checkpoint for `model.num_timesteps` atomically; keep the newest `keep`.
    `state`: what exact resume needs beyond the model file (training.exact_state)."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{model.num_timesteps:012d}"
    for stale in root.glob(".tmp-*"):  # a write killed half-way (one run writes here at a time)
        shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(".upload-*"):  # staged by a process that died before handing it over
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    tmp.mkdir()
    write_model(model, tmp / "model.zip", state)
    if replay_buffer and getattr(model, "replay_buffer", None) is not None:
        from stable_baselines3.common.save_util import save_to_pkl

        save_to_pkl(tmp / "replay_buffer.pkl", trimmed(model.replay_buffer))
    vecnorm = model.get_vec_normalize_env()
    if vecnorm is not None:
        vecnorm.save(str(tmp / "vecnormalize.pkl"))
    for f in tmp.iterdir():  # data on disk before the rename makes it visible
        with f.open("rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in all_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def write_model(model: Any, path: Path, state: dict | None) -> None:
    """The model's zip, and `state` as an entry of it (SB3 reads its own entries): one file to
    fsync. With a state, the zip is built in memory and written at once, which costs less than
    SB3 writing it entry by entry into the file and the state then appended to it (reopened,
    its directory read again: ~0.5 ms of PPO's write). Without one, SB3 writes the file itself,
    as checkpoints did before exact resume (the baseline of
    experiments/results/checkpoint_cost.md)."""
    if state is None:
        model.save(path)
        return
    buffer = io.BytesIO()
    model.save(buffer, **_not_twice(model, state))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(STATE_FILE, dumps(state), zipfile.ZIP_DEFLATED, compresslevel=1)
    with path.open("wb") as f:
        f.write(buffer.getbuffer())


def _not_twice(model: Any, state: dict | None) -> dict[str, Any]:
    """SB3's save arguments that leave out of its data the attributes `state` carries (the
    last observations, episode buffers, noise: exact_state.MODEL_ATTRS), which SB3 would
    otherwise serialize a second time, each cloudpickled and printed (PPO: 0.15 ms a write,
    DQN 0.27 ms; experiments/results/checkpoint_cost.md). Loading leaves them at their
    defaults; exact_state.restore sets them. Q-learning's own save writes none of them."""
    if state is None or not hasattr(model, "_excluded_save_params"):  # not an SB3 algorithm
        return {}
    return {"exclude": sorted(state["model"])}


TRIMMED = "_rl_harness_trimmed"  # on a trimmed buffer: (its buffer_size, the arrays trimmed)


def _rows(buffer: Any) -> dict[str, Any]:
    """The buffer's per-transition arrays (first axis buffer_size), dicts of them included."""
    import numpy as np

    size = buffer.buffer_size
    out: dict[str, Any] = {}
    for key, value in vars(buffer).items():
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == size:
            out[key] = value
        elif (
            isinstance(value, dict)
            and value
            and all(
                isinstance(v, np.ndarray) and v.ndim and v.shape[0] == size for v in value.values()
            )
        ):
            out[key] = value
    return out


def trimmed(buffer: Any) -> Any:
    """A shallow copy of `buffer` whose arrays hold only the rows written so far (pos + 1:
    with optimize_memory_usage the next observation of row pos-1 is row pos); `buffer` itself
    where it is full."""
    import copy

    if buffer.full:
        return buffer
    keep = min(buffer.pos + 1, buffer.buffer_size)
    small = copy.copy(buffer)
    rows = _rows(buffer)
    for key, value in rows.items():
        if isinstance(value, dict):
            setattr(small, key, {k: v[:keep].copy() for k, v in value.items()})
        else:
            setattr(small, key, value[:keep].copy())
    setattr(small, TRIMMED, (buffer.buffer_size, sorted(rows)))
    return small


def untrimmed(buffer: Any) -> Any:
    """A trimmed buffer grown back, in place, to its full size: the rows it kept, zeros after."""
    import numpy as np

    marker = vars(buffer).pop(TRIMMED, None)
    if marker is None:
        return buffer

    def grow(a: np.ndarray) -> np.ndarray:
        full = np.zeros((size, *a.shape[1:]), dtype=a.dtype)
        full[: len(a)] = a
        return full

    size, keys = marker
    kept = {key: getattr(buffer, key) for key in keys}
    for key, value in kept.items():
        if isinstance(value, dict):
            setattr(buffer, key, {k: grow(v) for k, v in value.items()})
        else:
            setattr(buffer, key, grow(value))
    return buffer


def finish(root: Path, keep: int | None) -> list[Path]:
    """At the end of a run: delete all but its newest `keep` checkpoints (None: leave them);
    returns what was deleted."""
    if keep is None:
        return []
    gone = all_checkpoints(root)[: -keep if keep > 0 else None]
    for old in gone:
        shutil.rmtree(old, ignore_errors=True)
    return gone


def dumps(value: Any) -> bytes:
    """Pickled by the standard library's C pickler (several times faster), by cloudpickle
    where that fails (a lambda, a class defined in a function); `pickle.loads` reads both."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        import cloudpickle

        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def stage(checkpoint: Path, *extra: Path) -> Path:
    """A copy of `checkpoint` (plus `extra` files, copied) to give away, e.g. for upload: its
    files hard-linked, so it costs no disk and no time, and survives the rotation that deletes
    the checkpoint itself. Named `.upload-*`: never taken for a checkpoint."""
    staged = checkpoint.parent / f".upload-{checkpoint.name}-{os.getpid()}"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir()
    for f in checkpoint.iterdir():
        try:
            os.link(f, staged / f.name)
        except OSError:  # a filesystem without hard links
            shutil.copy2(f, staged / f.name)
    for f in extra:
        if f.is_file():
            shutil.copy2(f, staged / f.name)  # written in place later: a link would change
    return staged


def all_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def latest(root: Path) -> Path | None:
    found = all_checkpoints(root)
    return found[-1] if found else None


def check(checkpoint: Path) -> Path:
    """The checkpoint's model file, refused here when it is missing or not a zip file."""
    model_file = checkpoint / "model.zip"
    if not zipfile.is_zipfile(model_file):
        raise ConfigError(
            f"checkpoint {model_file} is missing or corrupt (not a zip file); "
            f"delete {checkpoint} to resume from the one before it"
        )
    return model_file


def read_state(checkpoint: Path) -> dict | None:
    """The checkpoint's training state (exact_state); None where it was written before exact
    resume existed."""
    try:
        with zipfile.ZipFile(check(checkpoint)) as archive:
            raw = archive.read(STATE_FILE) if STATE_FILE in archive.namelist() else None
        beside = checkpoint / STATE_FILE  # where the first checkpoints with a state kept it
        if raw is None and beside.exists():
            raw = zlib.decompress(beside.read_bytes())
        state = None if raw is None else pickle.loads(raw)
    except Exception as e:  # noqa: BLE001 - a damaged file: say which, in one line
        raise ConfigError(
            f"checkpoint {checkpoint} cannot be read: {type(e).__name__}: {e}"
        ) from None
    if state is not None and (
        not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS
    ):
        raise ConfigError(
            f"checkpoint {checkpoint} is not a training state of format "
            f"{' or '.join(map(str, READABLE_FORMATS))}"
        )
    return state


def load(checkpoint: Path, cls: Any, env: VecEnv, device: str) -> tuple[Any, VecEnv]:
    """Model (with optimizer state, timestep counter, replay buffer) and env statistics."""
    from stable_baselines3.common.vec_env import VecNormalize

    model_file = check(checkpoint)
    stats = checkpoint / "vecnormalize.pkl"
    if isinstance(env, VecNormalize):
        if not stats.exists():
            raise ConfigError(
                f"checkpoint {checkpoint} has no vecnormalize.pkl for a normalized env"
            )
        env = VecNormalize.load(str(stats), env.venv)
    try:
        model = cls.load(model_file, env=env, device=device)
        buffer = checkpoint / "replay_buffer.pkl"
        if buffer.exists() and hasattr(model, "load_replay_buffer"):
            model.load_replay_buffer(buffer)
            untrimmed(model.replay_buffer)
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, RuntimeError) as e:
        raise ConfigError(
            f"checkpoint {checkpoint} cannot be loaded: {' '.join(str(e).split())}"
        ) from e
    return model, env
