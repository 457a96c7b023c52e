"""The closing evaluation, one for both commands: a training run's reported result (`train`)
and a saved agent's evaluation (`python -m rl_harness.evaluate`).

    episodes freshly seeded episodes on an evaluation env (seeds from EVAL_SEED_OFFSET on,
    which no training seed reaches)
      ── the task has an optimum and precision > 0: more, in batches, until the 95% CI
         half-width of the mean return is ≤ precision × |optimum| or max_episodes are played
      ── else: exactly `episodes`
    ──► returns and lengths ──► `metrics(prefix)`: mean, std, the CI (always), episodes, the
        fraction of the optimum with its CI; printed as `stats.evaluation`
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from rl_harness.common.stats import ci95, mean_std


@dataclass(frozen=True)
class Plan:
    """How many episodes: `episodes`, and where the task has an optimum, more until
    `precision` (0: exactly `episodes`) or `max_episodes`."""

    episodes: int
    max_episodes: int
    precision: float
    deterministic: bool = True

    @classmethod
    def of(cls, final: Any, deterministic: bool) -> Plan:
        """From a config node with `episodes`, `max_episodes`, `precision` (eval.final)."""
        most = max(final.max_episodes, final.episodes)
        return cls(final.episodes, most, float(final.precision), deterministic)


@dataclass
class Episodes:
    returns: list[float]
    lengths: list[int]


def play(model: Any, env: VecEnv, episodes: int, deterministic: bool) -> Episodes:
    """`episodes` more episodes on `env` (which continues its seeded streams)."""
    returns, lengths = cast(  # return_episode_rewards=True: lists, one entry per episode
        tuple[list[float], list[int]],
        evaluate_policy(
            model,
            env,
            n_eval_episodes=episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
        ),
    )
    return Episodes([float(r) for r in returns], [int(n) for n in lengths])


def evaluate(model: Any, env: VecEnv, plan: Plan, optimum: float | None) -> Episodes:
    """The closing evaluation on `env` (seeded by the caller): `plan.episodes`, then, where
    `optimum` is known and `plan.precision` > 0, batches (at least `env.num_envs` episodes,
    as many as played so far) until the CI target or `plan.max_episodes`."""
    done = Episodes([], [])
    batch = plan.episodes
    while batch > 0:
        more = play(model, env, batch, plan.deterministic)
        done.returns += more.returns
        done.lengths += more.lengths
        if not optimum or not plan.precision:
            break
        if ci95(done.returns) <= plan.precision * abs(optimum):
            break
        played = len(done.returns)
        batch = min(max(played, env.num_envs), plan.max_episodes - played)
    return done


def metrics(prefix: str, episodes: Episodes, optimum: float | None) -> dict[str, float]:
    """`<prefix>/mean_reward`, `std_reward`, `ci95` (half-width of the 95% CI of the mean),
    `episodes`, and with an optimum `optimality` and `optimality_ci95`: what `train` records
    as `final/*` (a rerun compares these with the original's) and `evaluate` as `eval/*`."""
    mean, std = mean_std(episodes.returns)
    ci = ci95(episodes.returns)
    out = {
        f"{prefix}/mean_reward": mean,
        f"{prefix}/std_reward": std,
        f"{prefix}/ci95": ci,
        f"{prefix}/episodes": len(episodes.returns),
    }
    if optimum:
        out[f"{prefix}/optimality"] = mean / optimum
        out[f"{prefix}/optimality_ci95"] = ci / abs(optimum)
    return out
