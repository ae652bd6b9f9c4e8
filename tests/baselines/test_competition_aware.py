"""The competition-aware GLFT maker: alone it is GLFT; its shared-flow valuation; its reply to
the rivals' quotes (own optimum, undercut, join, stand back at cost); the floor."""

import math

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.analytic.glft import glft_depths
from asmm_env.rollout import rollout
from asmm_env.spaces import no_rival_depth
from baselines import CompetitionAwarePolicy, GLFTPolicy
from baselines.competition_aware import shared_flow_floor

PARAMS = MarketParams(tick_size=0.01, max_inventory=20.0)
MARKUP = math.log1p(0.1 / 1.5) / 0.1


def _obs(q, tau, rival_bid=None, rival_ask=None):
    row = [100.0, q, tau] + ([] if rival_bid is None else [rival_bid, rival_ask])
    return np.array([row])


def _cost(policy, q, tau):
    bid, ask = policy.table.depths(tau, q)
    return float(bid) - MARKUP, float(ask) - MARKUP


def test_alone_it_quotes_the_glft_depths_with_or_without_rival_columns():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 1)
    glft = GLFTPolicy.from_env(PARAMS, 0.1)
    obs = np.array([[100.0, q, tau] for q in (-20, -3, 0, 4, 20) for tau in (1.0, 0.5, 0.01)])
    np.testing.assert_array_equal(aware.depths(obs), glft.depths(obs))
    empty = np.column_stack([obs, np.full((len(obs), 2), no_rival_depth(PARAMS))])
    np.testing.assert_allclose(aware.depths(empty), glft.depths(obs), rtol=0, atol=1e-12)


def test_its_valuation_is_glft_with_a_one_in_n_share_of_the_flow():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 5)
    bid, ask = glft_depths(0.4, [0, 2], gamma=0.1, sigma=2.0, A=140.0 / 5, k=1.5, Q=20)
    got = aware.depths(np.array([[100.0, 0.0, 0.4], [100.0, 2.0, 0.4]]))
    np.testing.assert_allclose(got, (bid, ask), rtol=1e-12)
    costs = [_cost(CompetitionAwarePolicy.from_env(PARAMS, 0.1, n), 0, 0.5)[0]
             for n in (1, 2, 5, 20)]
    assert np.all(np.diff(costs) > 0)              # thinner flow, slower unwinding, dearer


def test_it_undercuts_a_rival_whose_quote_leaves_a_wide_edge():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 5)
    bid, ask = aware.depths(_obs(0.0, 0.5, 0.40, 0.30))
    assert bid[0] == pytest.approx(0.39) and ask[0] == pytest.approx(0.29)


def test_it_keeps_its_own_optimum_when_that_is_inside_the_rival():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 5)
    own = aware.depths(_obs(0.0, 0.5))
    got = aware.depths(_obs(0.0, 0.5, 1.5, 1.5))
    np.testing.assert_array_equal(got, own)


def test_it_joins_the_rivals_level_when_the_edge_is_about_a_tick():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 5)
    cost, _ = _cost(aware, 0, 0.5)
    rival = cost + 0.012                           # undercut: 0.002 edge on all; join: 0.012 / 5
    bid, _ = aware.depths(_obs(0.0, 0.5, rival, 1.0))
    assert bid[0] == pytest.approx(rival)


def test_it_stands_back_at_its_cost_when_neither_undercutting_nor_joining_pays():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 5)
    cost, _ = _cost(aware, 0, 0.5)
    bid, _ = aware.depths(_obs(0.0, 0.5, cost - 0.05, 1.0))
    assert bid[0] == pytest.approx(cost)


def test_at_the_inventory_bound_it_posts_no_bid():
    aware = CompetitionAwarePolicy.from_env(PARAMS, 0.1, 3)
    bid, ask = aware.depths(_obs(20.0, 0.5, 0.1, 0.1))
    assert bid[0] == aware.no_quote_depth >= 30.0 / 1.5 and ask[0] < 0.1


def test_the_shared_flow_floor_rises_with_n_and_is_the_costs_at_zero_inventory():
    kw = dict(gamma=0.1, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005, Q=20)
    floors = [shared_flow_floor(n_agents=n, **kw) for n in (1, 2, 5, 20)]
    assert np.all(np.diff(floors) > 0) and 0 < floors[0] < 0.1
    tau = 1.0 - np.arange(200) * 0.005
    bid, ask = glft_depths(tau, 0, gamma=0.1, sigma=2.0, A=140.0 / 5, k=1.5, Q=20)
    assert floors[2] == pytest.approx(float(np.mean(bid + ask)) - 2 * MARKUP, rel=1e-9)


def test_the_valuation_needs_an_inventory_bound_and_a_valid_n():
    with pytest.raises(ValueError, match="Q must be given"):
        CompetitionAwarePolicy.from_env(MarketParams(tick_size=0.01), 0.1, 2)
    with pytest.raises(ValueError, match="n_agents"):
        CompetitionAwarePolicy.from_env(PARAMS, 0.1, 0)


def test_among_themselves_they_settle_near_the_floor_in_the_runner():
    """300 paths, T = 0.3 (60 steps), tick 0.05: 5 competition-aware makers race down one
    tick a step from their GLFT quotes; over the second half of the session the inside spread
    is within one tick of the shared-flow floor on the grid (the floor plus one tick)."""
    params = PARAMS.replace(T=0.3, tick_size=0.05)
    policies = [CompetitionAwarePolicy.from_env(params, 0.1, 5)] * 5
    res = rollout(policies, params, n_paths=300, seed=8)
    floor = shared_flow_floor(gamma=0.1, sigma=2.0, A=140.0, k=1.5, T=0.3, dt=0.005,
                              n_agents=5, Q=20) + 0.05
    late = res.inside_spread_mean[30:].mean()
    assert abs(late - floor) < 0.05
