"""`hydra/sweeper=optuna_rl`: Optuna asks, Hydra's launcher runs each trial as a normal job.

    python -m rl_harness -m sweep=ppo env=cartpole hydra.sweeper.n_trials=30

An adapter: the options below, then `rl_harness.tuning.scheduler.Scheduler` with a `launch`
that runs one job through Hydra's launcher and a `compose` that builds one job's config. The
loop, locks, workers, reports, validation and promotion live in rl_harness/tuning/.
"""

# No `from __future__ import annotations`: Hydra loads plugins outside sys.modules, where
# dataclasses cannot resolve string annotations.
import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from rl_harness.common import seeds as seed_blocks


@dataclass
class OptunaRLSweeperConf:
    _target_: str = "hydra_plugins.rl_harness_sweeper.optuna_rl_sweeper.OptunaRLSweeper"
    # None: "<sweep>-<env>", filled in at setup (a `${hydra:...}` default cannot resolve when
    # Hydra instantiates the sweeper, before any job config exists)
    study_name: str | None = None
    storage: str | None = None  # None: a journal file in the sweep dir; or an RDB URL
    direction: str = "maximize"
    n_trials: int = 20  # the study's total, counted across resumes and workers
    n_workers: int = 1  # processes on this machine
    # TPE's arguments whose defaults Optuna 5 changed, given: the same search under 4 and 5
    sampler: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "tpe",
            "tpe": {"multivariate": True, "constant_liar": True},
        }
    )
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    space: Any = None  # see conf/sweep/ppo.yaml; `space=null` before `space={...}` replaces it
    retry_interrupted: bool = True  # run again a trial whose process died or was stopped
    worker: int = 0  # 0: the lead, which sets up and reports; other machines use 10, 20, ...
    spawned: bool = False  # internal: started by another worker of this machine
    # Tuning seeds per trial (seed, seed+1, ...), inside the TUNING block (0..4999,
    # rl_harness.common.seeds); each runs as its own job on a free worker.
    # 1 scores a trial on one seed; raise it (3-5) when seeds of one config disagree by more
    # than the configs differ — the winner of a 1-seed study is partly the luckiest seed.
    seeds: int = 1
    # With seeds > 1, a trial runs its seeds in turn and its next one only while the aggregate
    # so far reaches the validate.top-th best complete trial (rl_harness/tuning/race.py);
    # false: every trial runs all its seeds.
    race: bool = True
    # A trial's value: `aggregate` (mean | iqm | quantile | cvar, the last two with `q` in
    # (0, 1), default 0.25: they see the bad seeds) over its seeds of `metric` (last: the
    # closing evaluation; best: the best evaluation; auc: the evaluation curve's mean height).
    objective: dict[str, Any] = field(
        default_factory=lambda: {"metric": "last", "aggregate": "mean"}
    )
    # After the search: the `top` best trials retrained on `seeds` test seeds from
    # `seed_offset`, inside the VALIDATION block (5000..7999), ranked by test IQM (`aggregate:
    # objective`: by the objective's aggregate, which the winner must also beat); the winner
    # against the incumbent (conf/hparams/<algo>_<env>.yaml, or the defaults) on the same
    # seeds. top=0: none.
    # `promote=true` replaces that file (or `promote_to`) when the winner is significantly
    # better; an installed package's configs are never written: its champion goes to the
    # user config directory (rl_harness.config.preflight.user_conf_dir), which runs search.
    # Its model is registered as `model_name` (default <algo>-<env>): @champion when it beats
    # the incumbent as promotion requires, else @challenger.
    validate: dict[str, Any] = field(
        default_factory=lambda: {
            "top": 5,
            "seeds": 5,
            "seed_offset": seed_blocks.VALIDATION.start,
            "promote": False,
            "promote_to": None,
            "model_name": None,
            "aggregate": "iqm",
        }
    )


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna_rl", node=OptunaRLSweeperConf, provider="rl_harness"
)


class OptunaRLSweeper(Sweeper):
    # Set by setup(), which Hydra calls before sweep(); the base class declares them Optional.
    hydra_context: HydraContext
    config: DictConfig
    launcher: Launcher

    def __init__(self, **options: Any) -> None:
        self.options = options

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.config = hydra_context, config
        if self.options.get("study_name") is None:
            choices = config.hydra.runtime.choices
            self.options["study_name"] = f"{choices.get('sweep')}-{choices.get('env')}"
            with open_dict(config):  # jobs are composed anew from hydra.overrides: named there too
                config.hydra.sweeper.study_name = self.options["study_name"]
                config.hydra.overrides.hydra.append(
                    f"hydra.sweeper.study_name={self.options['study_name']}"
                )
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from rl_harness.tuning.scheduler import main

        parser = OverridesParser.create()
        swept = [a for a in arguments if parser.parse_override(a).is_sweep_override()]
        main(self.options, self.config, self.launch, self.compose, list(arguments), swept)

    def launch(self, overrides: list[str], index: int) -> tuple[Any, str | None]:
        """One job through Hydra's launcher: (its return value, None) or (None, its error)."""
        [ret] = self.launcher.launch([overrides], initial_job_idx=index)
        if ret.status == JobStatus.FAILED:
            return None, job_error(ret)
        return ret.return_value, None

    def compose(self, overrides: list[str]) -> DictConfig:
        """One job's config, as the launcher would compose it."""
        return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)


def job_error(ret: JobReturn) -> str:
    """A failed job's exception in one line. `JobReturn.return_value` raises it, after writing
    "Error executing job with overrides: ..." to stderr: the trial's own line says it instead."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            _ = ret.return_value
    except Exception as e:
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return "the job failed"
