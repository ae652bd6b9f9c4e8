"""The undercutter: its quoting rule side by side, its AS valuation, its construction, and that
it drives the batched runner (alone it is the AS policy)."""

import math

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.analytic.avellaneda_stoikov import indifference_depths, optimal_depths
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy, UndercutPolicy

PARAMS = MarketParams(tick_size=0.01)
MARKUP = math.log1p(0.1 / 1.5) / 0.1


def _obs(q, tau, rival_bid, rival_ask):
    return np.array([[100.0, q, tau, rival_bid, rival_ask]])


@pytest.fixture
def policy():
    return UndercutPolicy.from_env(PARAMS, 0.1)


def test_costs_are_the_as_indifference_depths_and_the_as_quote_is_cost_plus_markup(policy):
    q, tau = np.array([-3.0, 0.0, 2.0]), np.array([1.0, 0.4, 0.1])
    obs = np.column_stack([np.full(3, 100.0), q, tau])
    cost_bid, cost_ask = policy.costs(obs)
    np.testing.assert_allclose(cost_bid, (2 * q + 1) * 0.1 * 4.0 * tau / 2)
    np.testing.assert_allclose(cost_ask, (1 - 2 * q) * 0.1 * 4.0 * tau / 2)
    bid, ask = optimal_depths(q, 1.0 - tau, gamma=0.1, sigma=2.0, k=1.5, T=1.0)
    np.testing.assert_allclose(bid - cost_bid, MARKUP)
    np.testing.assert_allclose(ask - cost_ask, MARKUP)


def test_it_undercuts_by_one_tick_while_the_edge_exceeds_the_cost(policy):
    bid, ask = policy.depths(_obs(0.0, 1.0, 0.70, 0.50))      # costs 0.2 on both sides
    assert bid[0] == pytest.approx(0.69) and ask[0] == pytest.approx(0.49)


def test_it_keeps_its_own_quote_when_that_is_already_inside_the_rival(policy):
    bid, ask = policy.depths(_obs(0.0, 1.0, 2.0, 0.86))
    as_bid, _ = optimal_depths(0.0, 0.0, gamma=0.1, sigma=2.0, k=1.5, T=1.0)
    assert bid[0] == pytest.approx(as_bid) and ask[0] == pytest.approx(as_bid)


def test_it_retreats_to_its_as_quote_when_undercutting_would_not_pay(policy):
    as_bid, as_ask = optimal_depths(0.0, 0.0, gamma=0.1, sigma=2.0, k=1.5, T=1.0)
    bid, ask = policy.depths(_obs(0.0, 1.0, 0.22, 0.20))      # 0.21 > cost 0.2 > 0.19
    assert bid[0] == pytest.approx(0.21)
    assert ask[0] == pytest.approx(as_ask)


def test_a_long_maker_gives_up_the_bid_and_keeps_undercutting_the_ask(policy):
    # q = 1 at t = 0: bid cost 0.6, ask cost -0.2 (it would sell below the mid).
    bid, ask = policy.depths(_obs(1.0, 1.0, 0.5, 0.1))
    as_bid, _ = optimal_depths(1.0, 0.0, gamma=0.1, sigma=2.0, k=1.5, T=1.0)
    assert bid[0] == pytest.approx(as_bid)
    assert ask[0] == pytest.approx(0.09)


def test_without_rival_columns_it_quotes_the_as_depths(policy):
    obs = np.array([[100.0, 1.0, 0.3], [100.0, -2.0, 0.9]])
    got = policy.depths(obs)
    want = AvellanedaStoikovPolicy.from_env(PARAMS, 0.1).depths(obs)
    np.testing.assert_array_equal(got, want)


def test_order_size_scales_the_marginal_cost():
    big = UndercutPolicy(0.1, sigma=2.0, k=1.5, T=1.0, tick=0.01,
                         action_map=PARAMS.action_map, order_size=3.0)
    cost_bid, _ = big.costs(np.array([[100.0, 0.0, 1.0]]))
    want, _ = indifference_depths(0.0, 0.0, gamma=0.1, sigma=2.0, T=1.0, order_size=3.0)
    assert cost_bid[0] == pytest.approx(want) == pytest.approx(0.6)


def test_on_a_continuous_market_the_tick_must_be_given():
    with pytest.raises(ValueError, match="tick must be > 0"):
        UndercutPolicy.from_env(MarketParams(), 0.1)
    assert UndercutPolicy.from_env(MarketParams(), 0.1, tick=0.02).tick == 0.02
    with pytest.raises(ValueError, match="gamma"):
        UndercutPolicy.from_env(PARAMS, -1.0)


def test_alone_in_the_runner_it_is_the_as_policy_byte_for_byte():
    params = PARAMS.replace(T=0.2)
    a = rollout(UndercutPolicy.from_env(params, 0.1), params, n_paths=50, seed=4).paths
    b = rollout(AvellanedaStoikovPolicy.from_env(params, 0.1), params, n_paths=50, seed=4).paths
    assert a.equals(b)


def test_against_fixed_makers_it_quotes_inside_them_and_takes_most_of_the_flow():
    """200 paths, T = 0.2: one undercutter among three AS makers of the same gamma."""
    params = PARAMS.replace(T=0.2)
    policies = [UndercutPolicy.from_env(params, 0.1),
                *[AvellanedaStoikovPolicy.from_env(params, 0.1)] * 3]
    res = rollout(policies, params, n_paths=200, seed=2, record_paths=200)
    fills = res.paths["fills"].to_numpy().reshape(200, 4).sum(axis=0)
    assert fills[0] > fills[1:].sum()
    depths = res.trajectories["bid_depth"][1:]                       # after the first step
    assert np.mean(depths[..., 0] < depths[..., 1:].min(axis=-1)) > 0.5
