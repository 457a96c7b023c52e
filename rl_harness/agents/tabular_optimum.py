"""Exact optima for tabular Gymnasium envs (FrozenLake, Taxi, ...) from their transition table.

Used as the yardstick for the Q-learning baseline: we compare a learned policy with the best
achievable value, both computed exactly from ``env.unwrapped.P`` (no sampling noise).

``P[s][a]`` is a list of ``(prob, next_state, reward, done)``. A ``done`` transition ends the
episode, so it contributes its reward but no continuation value.

Finite horizon: with ``horizon=H`` we run H steps of backward induction, which is the exact
optimum of "expected return within H steps" (FrozenLake's 100-step TimeLimit: success rate within
100 steps). That optimum may need a non-stationary policy (it can depend on the steps left), so
it is an upper bound for a Q-learner whose observation lacks ``t``. As a lower bound on the best
stationary policy we evaluate, exactly over H steps, the infinite-horizon optimal policies for a
few discounts close to 1. We do not use ``gamma=1`` there: undiscounted, "eventually reach the
goal" ties many actions (including ones that loop safely forever), and the argmax can pick a
policy that never finishes (FrozenLake8x8 scores 0.0 that way).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def transition_arrays(env: gym.Env) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense ``(R[s, a], C[s, a, s'], d0[s])`` from ``env.unwrapped.P``.

    ``R`` is the expected immediate reward, ``C`` the probability of *continuing* to ``s'``
    (done transitions are left out), ``d0`` the initial-state distribution.
    """
    base: Any = env.unwrapped  # a toy-text env: its spaces are Discrete and it has P
    n_s, n_a = base.observation_space.n, base.action_space.n
    rewards = np.zeros((n_s, n_a))
    cont = np.zeros((n_s, n_a, n_s))
    for s in range(n_s):
        for a in range(n_a):
            for prob, s_next, reward, done in base.P[s][a]:
                rewards[s, a] += prob * reward
                if not done:
                    cont[s, a, s_next] += prob
    d0 = np.asarray(getattr(base, "initial_state_distrib", None), dtype=float)
    if d0.shape != (n_s,):
        raise ValueError(f"{type(base).__name__} has no `initial_state_distrib` of shape ({n_s},).")
    return rewards, cont, d0 / d0.sum()


def optimal_value_iteration(
    env: gym.Env,
    gamma: float = 1.0,
    horizon: int | None = None,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values and greedy policy by value iteration.

    ``horizon=None``: iterate ``V <- max_a R + gamma C V`` to convergence (``gamma=1`` is fine for
    episodic tasks whose optimal policy ends episodes, as in FrozenLake and Taxi, since we start
    from ``V=0``); returns ``V[s]`` and a stationary ``policy[s]``.
    ``horizon=H``: exact H-step backward induction; returns ``V[s]`` with H steps to go and a
    non-stationary ``policy[t, s]`` for ``t = 0..H-1``.
    """
    rewards, cont, _ = transition_arrays(env)
    values = np.zeros(rewards.shape[0])
    if horizon is not None:
        policy = np.zeros((horizon, rewards.shape[0]), dtype=np.int64)
        for t in reversed(range(horizon)):
            q = rewards + gamma * cont @ values
            policy[t] = q.argmax(axis=1)
            values = q.max(axis=1)
        return values, policy
    for _ in range(max_iter):
        q = rewards + gamma * cont @ values
        new_values = q.max(axis=1)
        if np.max(np.abs(new_values - values)) < tol:
            values = new_values
            break
        values = new_values
    else:
        raise RuntimeError(f"Value iteration did not converge in {max_iter} iterations.")
    q = rewards + gamma * cont @ values
    # Break near-ties deterministically towards the lowest action index.
    policy = np.argmax(q >= q.max(axis=1, keepdims=True) - 1e-9, axis=1)
    return values, policy


def policy_return(env: gym.Env, policy: np.ndarray, horizon: int, gamma: float = 1.0) -> float:
    """Exact expected return of a (stationary ``[s]`` or per-step ``[t, s]``) policy over
    ``horizon`` steps from the initial-state distribution; for FrozenLake it is the success rate.
    """
    rewards, cont, dist = transition_arrays(env)
    policy = np.asarray(policy)
    states = np.arange(rewards.shape[0])
    total, discount = 0.0, 1.0
    for t in range(horizon):
        actions = policy[t] if policy.ndim == 2 else policy
        total += discount * float(dist @ rewards[states, actions])
        dist = dist @ cont[states, actions]
        discount *= gamma
    return total


def optimum_summary(
    env: gym.Env, horizon: int, gammas: tuple[float, ...] = (0.9, 0.99, 0.999, 0.9999)
) -> dict[str, float]:
    """Best achievable H-step return: ``finite_horizon`` (exact optimum, an upper bound for any
    policy) and ``stationary`` (best of the discounted-optimal policies, a lower bound for the best
    stationary policy)."""
    d0 = transition_arrays(env)[2]
    values_h, _ = optimal_value_iteration(env, horizon=horizon)
    stationary = max(
        policy_return(env, optimal_value_iteration(env, gamma=g)[1], horizon) for g in gammas
    )
    return {"finite_horizon": float(d0 @ values_h), "stationary": stationary}
