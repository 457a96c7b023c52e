"""The exact DP: brute force on tiny instances, simulation of its policy, heuristics, CLI."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from rl_harness.envs.inventory import InventoryEnv
from rl_harness.envs.inventory_dp import (
    DPPolicy,
    HeuristicResult,
    best_base_stock,
    best_s_S,
    evaluate_policy_exact,
    main,
    optimal_value,
)
from rl_harness.envs.inventory_model import demand_terms
from rl_harness.envs.inventory_vec import InventoryVecEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecMonitor

from tests.envs.test_inventory import with_demand

TINY = {
    "capacity": 4,
    "max_order": 2,
    "horizon": 4,
    "initial_inventory": 1,
    "demand_mean": 1.7,
    "fixed_order_cost": 1.0,
    "lost_sale_penalty": 3.0,
    "holding_cost": 0.4,
}


def brute_force_optimum(**kwargs) -> float:
    """Expectimax through the scalar env's own step(), demand enumerated to a 1e-18 tail."""
    env = InventoryEnv(**kwargs)
    env.reset(seed=0)
    p = env.params

    def outcome(state: tuple, t: int, a: int, k: int) -> tuple[float, tuple]:
        env.on_hand, env.pipeline, env.t = state[0], list(state[1:]), t
        with_demand(env, [k])
        obs, reward, *_ = env.step(a)
        return reward, tuple(int(x) for x in obs[:-1])

    @cache
    def value(state: tuple, t: int) -> float:
        if t == p.horizon:
            return 0.0
        mean = p.daily_means[t % 7]
        ks = range(60)
        pmf = [math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in ks]
        best = -math.inf
        for a in range(p.max_order + 1):
            q = 0.0
            for k, w in zip(ks, pmf, strict=True):
                reward, nxt = outcome(state, t, a, k)
                q += w * (reward + value(nxt, t + 1))
            best = max(best, q)
        return best

    return value((p.initial_inventory,) + (0,) * p.lead_time, 0)


@pytest.mark.parametrize("lead_time", [0, 1, 2])
def test_optimum_equals_brute_force_expectimax(lead_time):
    kwargs = dict(TINY, lead_time=lead_time, max_order=1 if lead_time == 2 else 2)
    assert optimal_value(**kwargs).value == pytest.approx(brute_force_optimum(**kwargs), abs=1e-9)


@pytest.mark.parametrize("mean", [0.0, 0.3, 4.0, 25.0, 800.0])
def test_demand_terms_exact(mean):
    """Rows are distributions, E[sales] = E[min(D, y)] and E[lost] = E[max(D - y, 0)]."""
    stats = pytest.importorskip("scipy.stats")
    capacity = 30
    sales, trans = demand_terms(mean, capacity)
    assert np.all(np.isfinite(trans)) and np.allclose(trans.sum(axis=1), 1.0)
    k = np.arange(5000)
    pmf = stats.poisson.pmf(k, mean) if mean > 0 else (k == 0).astype(float)
    for y in range(capacity + 1):
        assert sales[y] == pytest.approx(np.sum(np.minimum(k, y) * pmf), abs=1e-9)
        assert mean - sales[y] == pytest.approx(np.sum(np.maximum(k - y, 0) * pmf), abs=1e-9)
        expected_next = np.bincount(np.maximum(y - k, 0), weights=pmf, minlength=capacity + 1)
        np.testing.assert_allclose(trans[y], expected_next, atol=1e-12)


@pytest.mark.parametrize(("lead_time", "episodes"), [(0, 200), (1, 300)])
def test_dp_policy_simulated_in_scalar_env_matches_value(lead_time, episodes):
    result = optimal_value(lead_time=lead_time)
    policy, env, returns = DPPolicy(result), InventoryEnv(lead_time=lead_time), []
    for ep in range(episodes):
        obs, _ = env.reset(seed=1000 + ep)
        total, t, done = 0.0, 0, False
        while not done:
            obs, reward, _, done, _ = env.step(policy.act(obs, t))
            total, t = total + reward, t + 1
        returns.append(total)
    se = np.std(returns) / np.sqrt(episodes)
    assert abs(np.mean(returns) - result.value) < 3 * se


def test_dp_policy_predict_with_evaluate_policy_on_vec_env():
    result = optimal_value(horizon=56)
    venv = VecMonitor(InventoryVecEnv(500, seed=5, horizon=56))
    returns, lengths = evaluate_policy(
        DPPolicy(result), venv, n_eval_episodes=1000, return_episode_rewards=True
    )
    assert lengths == [56] * 1000
    assert abs(np.mean(returns) - result.value) < 3 * np.std(returns) / np.sqrt(1000)


@pytest.mark.parametrize("lead_time", [0, 1])
def test_heuristics_bounded_by_optimum_and_ordered(lead_time):
    opt = optimal_value(lead_time=lead_time)
    base, s_s = best_base_stock(lead_time=lead_time), best_s_S(lead_time=lead_time)
    assert base.value <= s_s.value + 1e-9 and s_s.value <= opt.value + 1e-9
    assert base.s == base.S - 1 and 0 <= s_s.s < s_s.S
    # Fixed order cost 5 makes ordering every day costly: (s,S) must beat base-stock clearly.
    assert s_s.value > base.value + 100
    # The optimum is the DP's own policy evaluated exactly.
    assert evaluate_policy_exact(opt.policy, lead_time=lead_time).value == pytest.approx(opt.value)


def test_exact_evaluation_forms_agree_and_heuristic_is_argmax():
    kw = {"horizon": 70}
    best = best_s_S(**kw)
    fn_value = evaluate_policy_exact(lambda x, p, t: best.order(x + p.sum(axis=1)), **kw).value
    model_position = np.add.outer(np.arange(21), np.arange(11))
    table_value = evaluate_policy_exact(best.order(model_position), **kw).value
    assert fn_value == pytest.approx(best.value) and table_value == pytest.approx(best.value)
    for s, big_s in [(best.s - 1, best.S), (best.s, best.S + 1), (best.s + 1, best.S)]:
        other = evaluate_policy_exact(
            lambda x, p, t, s=s, big_s=big_s: np.where(
                x + p.sum(axis=1) <= s, np.clip(big_s - x - p.sum(axis=1), 0, 10), 0
            ),
            **kw,
        ).value
        assert other <= best.value + 1e-9


def test_optimum_never_worse_than_any_constant_policy():
    opt = optimal_value(horizon=28)
    for a in range(11):
        assert evaluate_policy_exact(np.full((21, 11), a), horizon=28).value <= opt.value + 1e-9


def test_too_large_state_space_refused():
    with pytest.raises(ValueError, match=r"limit .*lead_time"):
        optimal_value(lead_time=5)
    with pytest.raises(ValueError, match="1,000"):
        optimal_value(max_state_steps=1000)


def test_bad_policy_table_rejected():
    with pytest.raises(ValueError, match="policy"):
        evaluate_policy_exact(np.full((21, 11), 11))
    with pytest.raises(ValueError, match="shape"):
        evaluate_policy_exact(np.zeros((3, 3), dtype=int))


def test_cli_prints_table(capsys):
    main(["--lead-time", "0", "--horizon", "28"])
    out = capsys.readouterr().out
    for word in ("optimal (DP)", "base-stock", "(s,S)", "% of optimum", "S="):
        assert word in out
    with pytest.raises(SystemExit, match="capacity"):
        main(["--capacity", "-3"])


def test_heuristic_order_rule_by_hand():
    rule = HeuristicResult("(s,S)", s=3, S=6, value=0.0, max_order=4)
    assert rule.order(np.arange(8)).tolist() == [4, 4, 4, 3, 0, 0, 0, 0]
    assert rule.act(np.array([1, 1, 5])) == 4  # position = on-hand + pipeline, weekday ignored
    base = HeuristicResult("base-stock", s=5, S=6, value=0.0, max_order=4)
    assert base.order(np.arange(8)).tolist() == [4, 4, 4, 3, 2, 1, 0, 0]


class _HeuristicAgent:
    """An (s, S) rule behind SB3's predict surface, as a trained agent would present it."""

    def __init__(self, rule) -> None:
        self.rule = rule

    def predict(self, obs, deterministic=True):
        return self.rule.order(np.asarray(obs)[:, :-1].sum(axis=1)), None


def test_agent_return_scores_a_predict_policy_exactly() -> None:
    from rl_harness.envs.inventory_dp import agent_return, best_s_S

    for lead_time in (0, 1):
        rule = best_s_S(lead_time=lead_time)
        assert agent_return(_HeuristicAgent(rule), lead_time=lead_time) == pytest.approx(
            rule.value, rel=1e-9
        )
