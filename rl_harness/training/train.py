"""The one path: config → build (env + model) → run (learn + evaluate) → record (MLflow, files).

Everything that trains — a single run, a sweep trial — goes through `run`.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.logger import Logger, make_output_format
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization

from rl_harness.build import make as build
from rl_harness.build import registry as algos
from rl_harness.build.optimum import optimum
from rl_harness.common import stats
from rl_harness.common.stats import ci95, mean_std
from rl_harness.config import commands, names
from rl_harness.config.names import experiment_name
from rl_harness.config.preflight import TRAINING
from rl_harness.config.runtime import output_dir, to_plain
from rl_harness.errors import ConfigError, NumericalError, stopped
from rl_harness.tracking.recorder import NullRecorder
from rl_harness.tracking.store import OUT_DIR_TAG, tracking_uri
from rl_harness.training import checkpoints, closing, record_tasks
from rl_harness.training.callbacks import (
    Checkpoint,
    OnPolicyLogs,
    make_callbacks,
    nonfinite_parameter,
    stops_at_rollout_start,
)

if TYPE_CHECKING:
    from rl_harness.tracking.recorder import Recorder
    from rl_harness.training.resume import ResumePoint


def validate(cfg: DictConfig) -> tuple[type, dict[str, Any]]:
    """Every check that needs no env or model: fail in milliseconds, not after training.

    The value rules are config.commands' (RULES["config"], as every command's); then what
    depends on the algorithm's signature and on the env id."""
    commands.apply_rules(TRAINING, cfg)
    cls = algos.get_class(cfg.algo.name)
    kwargs = build.algo_kwargs(cfg.algo.name, cls, cfg.algo)
    build.check_env_id(cfg.env.id)
    build.check_frame_stack(cfg.env.get("frame_stack"))
    return cls, kwargs


def base_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags that group runs in the UI and in `compare`: algo, env, the seeds of one
    configuration (`seed_group`) and the overrides typed."""
    tags = {"algo": cfg.algo.name, "env": cfg.env.id, "seed_group": names.seed_group(cfg)}
    if HydraConfig.initialized():
        tags["hydra.overrides"] = " ".join(HydraConfig.get().overrides.task)
    if job := slurm_job():
        tags["slurm.job"] = job
    return tags


def slurm_job() -> str | None:
    """The SLURM job (`<array job>_<task>` for an array) running this process, if any: where
    to look for its log."""
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    return env.get("SLURM_JOB_ID")


def _sb3_logger(out_dir: Path, recorder: Recorder, verbose: int) -> Logger:
    formats = ["csv"] + (["stdout"] if verbose else [])
    outputs = [make_output_format(f, str(out_dir)) for f in formats]
    if (writer := recorder.writer()) is not None:
        outputs.append(writer)
    return Logger(folder=str(out_dir), output_formats=outputs)


def evaluate(
    model: Any, train_env: VecEnv, cfg: DictConfig, best: float | None
) -> closing.Episodes:
    """The closing evaluation, the run's reported result (training.closing, as `evaluate`'s):
    `eval.final` on `eval.final.n_envs` envs with the training statistics, seeded from
    EVAL_SEED_OFFSET on."""
    env = build.make_env(cfg, evaluation=True, n_envs=cfg.eval.final.n_envs)
    try:
        if isinstance(env, VecNormalize):
            sync_envs_normalization(train_env, env)
        env.seed(cfg.seed + build.EVAL_SEED_OFFSET)
        return closing.evaluate(
            model, env, closing.Plan.of(cfg.eval.final, cfg.eval.deterministic), best
        )
    finally:
        env.close()


# experiment=, run_name=, tags=, run_id= (to reopen), unique_name=, system_metrics= -> the run
Opener = Callable[..., contextlib.AbstractContextManager["Recorder"]]


def open_recording(cfg: DictConfig) -> Opener:
    """How this run is recorded: by a helper process, in this process, or not at all.

    Decided before anything imports MLflow: `auto` records in a helper process only where this
    process has not loaded MLflow (tracking/background.py says why). The store is checked now,
    before the env and model are built, so an unreachable one fails in one line.
    """
    from rl_harness.tracking import background

    if not cfg.mlflow.enabled:
        return lambda **_: contextlib.nullcontext(NullRecorder(record_tasks.TASKS))
    if background.use_background(cfg.mlflow.get("background", "auto")):
        helper = background.begin(record_tasks.HELPER)
        return lambda **run: background.background_run(helper, **run)
    from rl_harness.tracking import runs

    runs.check_store()
    return lambda **run: runs.mlflow_run(**run, tasks=record_tasks.TASKS)


def uploads_checkpoints(cfg: DictConfig) -> bool:
    """`checkpoint.upload`: true, false, or auto: where runs are recorded on a tracking server,
    whose clients may share no disk with each other."""
    setting = cfg.checkpoint.get("upload", "auto")
    if setting == "auto":
        setting = tracking_uri().startswith(("http://", "https://"))
    return bool(cfg.mlflow.enabled and setting)


def checkpoint_upload(
    cfg: DictConfig, recorder: Recorder, out_dir: Path
) -> Callable[[Path], None] | None:
    """Each checkpoint also into the run's artifacts as it is written (the recorder uploads it
    beside training), with the evaluation history, so `resume=<run id>` works on any machine."""
    if not uploads_checkpoints(cfg):
        return None

    def hand_over(checkpoint: Path) -> None:
        staged = checkpoints.stage(checkpoint, out_dir / "evaluations.npz")
        recorder.hand_over_dir(staged, f"checkpoints/{checkpoint.name}", cfg.checkpoint.keep)

    return hand_over


def resume_point(
    cfg: DictConfig, point: ResumePoint | None, out_dir: Path | None
) -> ResumePoint | None:
    """The interrupted run to continue (`resume=<run id>`), its progress file set aside; a
    checkpoint from the run's artifacts is downloaded into this run's directory first."""
    from rl_harness.training import resume

    if point is None and cfg.get("resume"):
        point = resume.find(cfg.resume)
    if point is not None and point.stored is not None:
        point = resume.fetch(point, out_dir or output_dir())
    if point is not None:
        progress = point.out_dir / "progress.csv"  # SB3's CSV writer would truncate it
        if progress.exists():
            progress.rename(point.out_dir / f"progress_until_{point.checkpoint.name}.csv")
    return point


def run(
    cfg: DictConfig,
    run_tags: dict[str, str] | None = None,
    after_eval: list | None = None,
    point: ResumePoint | None = None,
    run_name: str | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Train, evaluate, save and record one configuration; returns the final evaluation.

    With `resume=<run id>` the configuration, output directory and MLflow run are those of the
    interrupted run (but `torch_threads`, this one's), and training continues from its latest
    checkpoint to the original total (`point`: that run's `resume.find`, where the caller has
    looked it up already). The run is
    named `mlflow.run_name`, else `run_name` (a sweep's `trial-<n>`), else `<algo>-<env>-s<seed>`
    made unique in its experiment. Files go to `out_dir`, else Hydra's run directory.
    """
    point = resume_point(cfg, point, out_dir)
    if point is not None:  # the cores: this machine's share, not the one that started the run
        threads, cfg = cfg.torch_threads, point.cfg.copy()
        cfg.torch_threads = threads
    cls, kwargs = validate(cfg)
    opener = open_recording(cfg)
    torch.set_num_threads(cfg.torch_threads)
    out_dir = point.out_dir if point else (out_dir or output_dir())
    writable_dir(out_dir)

    env = build.make_env(cfg)
    eval_env = build.make_env(cfg, evaluation=True)
    best = optimum(cfg)
    if point is not None:
        model, env = checkpoints.load(point.checkpoint, cls, env, cfg.device)
    else:
        model = build.make_model(cfg, env, kwargs)

    experiment = experiment_name(cfg)
    tags = {**base_tags(cfg), **(cfg.mlflow.tags or {}), **(run_tags or {}), OUT_DIR_TAG: out_dir}
    with contextlib.ExitStack() as stack:
        stack.callback(eval_env.close)
        stack.callback(env.close)
        recorder = stack.enter_context(
            opener(**run_identity(cfg, experiment, tags, point, run_name))
        )
        stack.enter_context(_naming_the_run(recorder))
        if point is None:
            record_start(recorder, cfg, out_dir, best)
        model.set_logger(_sb3_logger(out_dir, recorder, cfg.verbose))
        upload = checkpoint_upload(cfg, recorder, out_dir)
        state = checkpoints.read_state(point.checkpoint) if point is not None else None
        callbacks = make_callbacks(cfg, eval_env, out_dir, best, after_eval, upload, state)
        if point is not None:
            restore_evaluations(callbacks, out_dir, until=model.num_timesteps)
            recorder.log_metrics({"resume/from_step": model.num_timesteps}, model.num_timesteps)
            recorder.set_tags(resume_tags(point.checkpoint, state))
        learn(model, cfg, callbacks, out_dir, resumed=point is not None)
        model_path = save(model, env, eval_env, out_dir, recorder, cfg)
        checkpoints.finish(out_dir / "checkpoints", cfg.checkpoint.get("keep_finished", 1))
        episodes = evaluate(model, env, cfg, best)
        record_end(recorder, out_dir, experiment, model.num_timesteps, episodes, best)
        recorder.set_tags({NOTE_TAG: run_note(cfg, model.num_timesteps, episodes.returns, best)})

    mean, std = mean_std(episodes.returns)

    result = {
        "run_id": recorder.run_id,
        "mean_reward": mean,
        "std_reward": std,
        "returns": episodes.returns,
        "model_path": str(model_path),
        "optimum": best,
        "timesteps": model.num_timesteps,
        "curve": evaluation_curve(callbacks),
    }
    print(summary_line(result))
    return result


def resume_tags(checkpoint: Path, state: dict | None) -> dict[str, str]:
    """`resume.exact`: whether this resume replays what the uninterrupted run would have done
    (training.exact_state), and if not, why; said in one line where it is not."""
    if state is None:
        reasons = ["its checkpoint was written before exact resume (no training state)"]
    else:
        reasons = list(state["inexact"])
    if reasons:
        print(
            f"rl_harness: resuming from {checkpoint}, not exactly: {'; '.join(reasons)}",
            file=sys.stderr,
        )
        return {"resume.exact": "false", "resume.inexact": "; ".join(reasons)[:5000]}
    return {"resume.exact": "true"}


def run_identity(
    cfg: DictConfig,
    experiment: str,
    tags: dict[str, Any],
    point: ResumePoint | None,
    run_name: str | None,
) -> dict[str, Any]:
    """The opener's keywords: where the run is recorded, its name, whether it is reopened."""
    return {
        "experiment": experiment,
        "run_name": cfg.mlflow.run_name or run_name or names.run_name(cfg),
        "tags": tags,
        "run_id": point.run_id if point else None,
        "unique_name": not (cfg.mlflow.run_name or run_name),
        "system_metrics": bool(cfg.mlflow.get("system_metrics", False)),
    }


@contextlib.contextmanager
def _naming_the_run(recorder: Recorder) -> Iterator[None]:
    """A stop (Ctrl-C, kill) carries the run's id to its one-line report; the recorder, which
    exits after this, marks the run KILLED."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        stop = stopped(interrupt)
        stop.run_id = recorder.run_id
        raise stop from None


NOTE_TAG = "mlflow.note.content"  # the run's description in the MLflow UI


def run_note(cfg: DictConfig, timesteps: int, returns: list[float], best: float | None) -> str:
    """The run page's description: what a person compares, without opening params or metrics."""
    mean = float(np.mean(returns))
    pct = f" = **{100 * mean / best:.1f}% of optimum**" if best else ""
    hparams = {k: v for k, v in to_plain(cfg.algo).items() if k != "name" and v is not None}
    shown = ", ".join(f"`{k}={v}`" for k, v in list(hparams.items())[:10])
    return (
        f"**{cfg.algo.name}** on **{cfg.env.id}**, seed {cfg.seed}, {timesteps:,} steps: "
        f"final evaluation **{mean:.2f} ± {ci95(returns):.2f}** (95% CI of the mean, "
        f"{len(returns)} episodes){pct}.\n\nHyperparameters: {shown or 'the defaults'}."
    )


def summary_line(result: dict[str, Any]) -> str:
    """The last line a run prints: its id, the final evaluation (`stats.evaluation`: the mean ±
    its 95% CI, the std, the episodes, the % of optimum), where the model is."""
    return (
        f"run {result['run_id'] or '(tracking off)'} | eval "
        f"{stats.evaluation(result['returns'], result['optimum'])} | model {result['model_path']}"
    )


def record_start(recorder: Recorder, cfg: DictConfig, out_dir: Path, best: float | None) -> None:
    """What a new run records before training: the config (params and file), the optimum,
    what it runs on (versions, platform, commit; the recorder collects them beside training)."""
    recorder.log_params(to_plain(cfg))
    recorder.run_task(
        "environment", str(out_dir.resolve()), torch.get_num_threads(), cfg.env.id, os.getcwd()
    )
    if best is not None:
        recorder.log_metrics({"optimum": best}, step=0)
    config_path = out_dir / "resolved_config.yaml"
    OmegaConf.save(cfg, config_path, resolve=True)
    recorder.log_artifact(config_path)


def save(
    model: Any, env: VecEnv, eval_env: VecEnv, out_dir: Path, recorder: Recorder, cfg: DictConfig
) -> Path:
    """model.zip (and vecnormalize.pkl); the recorder packages the policy model meanwhile."""
    model_path = out_dir / "model.zip"
    model.save(model_path)
    vecnorm = model.get_vec_normalize_env()
    stats_path = out_dir / "vecnormalize.pkl"
    if isinstance(vecnorm, VecNormalize):
        vecnorm.save(str(stats_path))
        sync_envs_normalization(env, eval_env)
    # A helper process packages the policy model while this one runs the final evaluation.
    recorder.run_task(
        "policy_model",
        str(model_path.resolve()),
        str(stats_path.resolve()) if stats_path.exists() else None,
        OmegaConf.to_container(cfg, resolve=True),
    )
    return model_path


def record_end(
    recorder: Recorder,
    out_dir: Path,
    experiment: str,
    timesteps: int,
    episodes: closing.Episodes,
    best: float | None,
) -> None:
    """The final evaluation as `final/*` (closing.metrics), the run's files as artifacts, the
    learning curve."""
    recorder.log_metrics(closing.metrics("final", episodes, best), step=timesteps)
    for name in ("model.zip", "vecnormalize.pkl", "best_model.zip"):
        if (out_dir / name).exists():
            recorder.log_artifact(out_dir / name, "model")
    for name in ("evaluations.npz", "progress.csv"):
        if (out_dir / name).exists():
            recorder.log_artifact(out_dir / name)
    recorder.run_task("learning_curve", str(out_dir.resolve()), experiment)


def learn(model: Any, cfg: DictConfig, callbacks: list, out_dir: Path, resumed: bool) -> None:
    """Train up to cfg.n_timesteps in total; Ctrl-C or SIGTERM stops at the next rollout's start
    with a checkpoint there (a second signal at once, with a checkpoint that resumes inexactly)."""
    remaining = cfg.n_timesteps - model.num_timesteps
    learn_kwargs = {"log_interval": cfg.log_interval} if cfg.log_interval else {}
    if resumed and isinstance(model, OnPolicyAlgorithm):  # the run's cadence, not this call's
        default = inspect.signature(model.learn).parameters["log_interval"].default
        callbacks = [*callbacks, OnPolicyLogs(learn_kwargs.get("log_interval", default))]
        learn_kwargs["log_interval"] = None
    saver = next((c for c in callbacks if isinstance(c, Checkpoint)), None)
    try:
        if remaining > 0:
            with stops_at_rollout_start(saver):
                model.learn(
                    remaining,
                    callback=callbacks,
                    progress_bar=cfg.progress_bar,
                    reset_num_timesteps=not resumed,
                    **learn_kwargs,
                )
    except ValueError as e:
        # A diverged policy usually surfaces as torch's distribution check failing on NaN
        # logits before any guard runs; name the cause when the parameters confirm it.
        if (bad := nonfinite_parameter(model)) is not None:
            raise NumericalError(
                f"parameter '{bad}' became NaN/inf by step {model.num_timesteps}; training stopped"
            ) from e
        raise
    except KeyboardInterrupt as interrupt:
        stop = stopped(interrupt)
        stop.step = model.num_timesteps
        if saver is not None and stop.checkpoint is None:  # stopped at once, mid-rollout
            with contextlib.suppress(Exception):
                stop.checkpoint = str(saver.save(at_boundary=False))
        raise stop from None
    finally:
        model.logger.close()  # flushes buffered metrics, also when training fails


def evaluation_curve(callbacks: list) -> list[tuple[int, float]]:
    """(timestep, mean return) of each periodic evaluation, for objectives over the curve."""
    evals = next((c for c in callbacks if isinstance(c, EvalCallback)), None)
    if evals is None:
        return []
    pairs = zip(evals.evaluations_timesteps, evals.evaluations_results, strict=True)
    return [(int(t), float(np.mean(r))) for t, r in pairs]


def restore_evaluations(callbacks: list, out_dir: Path, until: int) -> None:
    """A resumed run keeps its evaluation history up to the checkpoint, and its best-so-far."""
    path = out_dir / "evaluations.npz"
    evals = next((c for c in callbacks if isinstance(c, EvalCallback)), None)
    if evals is None or not path.exists():
        return
    data = np.load(path)
    keep = data["timesteps"] <= until
    evals.evaluations_timesteps = list(data["timesteps"][keep])
    evals.evaluations_results = [list(r) for r in data["results"][keep]]
    evals.evaluations_length = [list(r) for r in data["ep_lengths"][keep]]
    if keep.any():
        evals.best_mean_reward = float(np.max(np.mean(data["results"][keep], axis=1)))


def writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(f"output directory {path} is not writable: {e.strerror}") from None
