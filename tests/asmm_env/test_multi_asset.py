"""Correlated assets and the portfolio runner (asmm_env/multi_asset.py), with the Guéant and
independent makers of baselines/portfolio.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.fills import hawkes_fill_model
from asmm_env.multi_asset import (
    PORTFOLIO_COLUMNS,
    MultiAssetMarket,
    correlation_matrix,
    rollout_portfolio,
)
from asmm_env.rollout import rollout
from baselines import GLFTAsymptoticPolicy, GueantPolicy, IndependentMakers

PARAMS = MarketParams()                                         # the AS 2008 market
LIQUID = MarketParams(sigma=1.0, A=200.0, k=2.0)
GAMMA = 0.1


def independent(params):
    return IndependentMakers([GLFTAsymptoticPolicy.from_env(p, GAMMA) for p in params])


def portfolio_totals(frame):
    return frame.groupby("path")["terminal_pnl"].sum().to_numpy()


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_asset_zero_is_the_single_market_of_the_same_seed_at_any_correlation(rho):
    policy = GLFTAsymptoticPolicy.from_env(PARAMS, GAMMA)
    single = rollout(policy, PARAMS, n_paths=1200, seed=31).paths
    multi = rollout_portfolio(IndependentMakers([policy, policy]), [PARAMS, PARAMS], rho,
                              n_paths=1200, seed=31)
    first = multi[multi["asset"] == 0].reset_index(drop=True)
    for column in ("terminal_pnl", "terminal_inventory", "fills", "adverse_selection"):
        assert np.array_equal(first[column].to_numpy(), single[column].to_numpy()), column


def test_mid_increments_have_the_stated_correlation_and_volatilities():
    # 2,000 paths x 200 steps; the sample correlation of increments has s.e. ~ (1 - rho^2) /
    # sqrt(400,000) = 0.0006.
    market = MultiAssetMarket([PARAMS, LIQUID], -0.6, 2000)
    market.reset(seed=4)
    moves = []
    for _ in range(market.n_steps):
        before = market.mid
        market.step(np.full((2000, 2, 2), 50.0))                    # quotes that never fill
        moves.append(market.mid - before)
    moves = np.concatenate(moves)
    assert np.corrcoef(moves.T)[0, 1] == pytest.approx(-0.6, abs=0.004)
    np.testing.assert_allclose(moves.std(axis=0) / math.sqrt(PARAMS.dt), [2.0, 1.0],
                               rtol=0.005)


def test_with_zero_correlation_the_portfolio_maker_is_two_independent_glft_makers():
    # Same paths: the Guéant quotes with a diagonal covariance are each asset's GLFT
    # asymptotic quotes (to rounding), so the PnL agree path by path.
    params = [PARAMS, LIQUID]
    gueant = rollout_portfolio(GueantPolicy.from_markets(params, 0.0, GAMMA), params, 0.0,
                               n_paths=1000, seed=5)
    control = rollout_portfolio(independent(params), params, 0.0, n_paths=1000, seed=5)
    np.testing.assert_allclose(gueant["terminal_pnl"], control["terminal_pnl"], atol=1e-9)
    assert np.array_equal(gueant["fills"], control["fills"])


@pytest.mark.slow
def test_zero_correlation_two_asset_maker_matches_two_single_asset_makers_within_cis():
    # 4,000 paths. The portfolio maker's PnL on each asset against single-asset GLFT
    # asymptotic rollouts of that asset alone with an independent seed (two independent
    # samples: the difference of means within 4 s.e. of the difference), and the portfolio
    # total against the sum. Observed (seeds 6 vs 606, 607): asset 0 67.38 vs 67.41 (s.e. of
    # the difference 0.19), asset 1 72.87 vs 73.08 (0.16); stds 8.45 vs 8.30 and 7.04 vs
    # 7.07; portfolio 140.24 vs 140.49 (0.25).
    params = [PARAMS, LIQUID]
    n = 4000
    multi = rollout_portfolio(GueantPolicy.from_markets(params, 0.0, GAMMA), params, 0.0,
                              n_paths=n, seed=6)
    totals = np.zeros(n)
    for asset, p in enumerate(params):
        alone = rollout(GLFTAsymptoticPolicy.from_env(p, GAMMA), p, n_paths=n,
                        seed=606 + asset).paths["terminal_pnl"].to_numpy()
        mine = multi.loc[multi["asset"] == asset, "terminal_pnl"].to_numpy()
        se = math.sqrt(mine.var(ddof=1) / n + alone.var(ddof=1) / n)
        assert abs(mine.mean() - alone.mean()) < 4 * se, (asset, mine.mean(), alone.mean(), se)
        ratio = mine.std(ddof=1) / alone.std(ddof=1)
        assert abs(ratio - 1) < 4 * math.sqrt(1 / n), (asset, ratio)
        totals += alone
    ours = portfolio_totals(multi)
    se = math.sqrt(ours.var(ddof=1) / n + totals.var(ddof=1) / n)
    assert abs(ours.mean() - totals.mean()) < 4 * se


def test_with_correlated_assets_the_portfolio_maker_hedges():
    # Long asset 0: the Guéant maker lowers asset 1's quotes too (a cheaper ask to sell the
    # correlated asset); the independent maker does not.
    params = [PARAMS, PARAMS]
    obs = np.zeros((1, 2, 3))
    obs[0, :, 0], obs[0, 0, 1], obs[0, :, 2] = 100.0, 5.0, 1.0
    flat = obs.copy()
    flat[0, 0, 1] = 0.0
    bid, ask = GueantPolicy.from_markets(params, 0.8, GAMMA).depths(obs)
    bid0, ask0 = GueantPolicy.from_markets(params, 0.8, GAMMA).depths(flat)
    assert bid[0, 1] > bid0[0, 1] and ask[0, 1] < ask0[0, 1]
    bid, ask = independent(params).depths(obs)
    bid0, ask0 = independent(params).depths(flat)
    assert bid[0, 1] == bid0[0, 1] and ask[0, 1] == ask0[0, 1]


def test_results_do_not_depend_on_the_chunk_size_and_hawkes_flow_plugs_in():
    params = [PARAMS.replace(T=0.2), LIQUID.replace(T=0.2)]
    policy = GueantPolicy.from_markets(params, 0.5, GAMMA)
    one = rollout_portfolio(policy, params, 0.5, n_paths=2000, seed=8, chunk_size=1000)
    two = rollout_portfolio(policy, params, 0.5, n_paths=2000, seed=8, chunk_size=2000)
    assert one.equals(two)
    assert tuple(one.columns) == PORTFOLIO_COLUMNS
    clustered = rollout_portfolio(
        policy, params, 0.5, n_paths=300, seed=8,
        fill_models=lambda: [hawkes_fill_model(p, branching_ratio=0.5, decay=50.0)
                             for p in params])
    assert clustered["fills"].sum() > 0


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="correlation"):
        correlation_matrix(1.5, 2)
    with pytest.raises(ValueError, match="correlation"):
        correlation_matrix([[1.0, 0.9], [0.8, 1.0]], 2)
    with pytest.raises(ValueError, match="params"):
        MultiAssetMarket([], 0.0)
    with pytest.raises(ValueError, match=r"params\[1\]"):
        MultiAssetMarket([PARAMS, PARAMS.replace(dt=0.001)], 0.0)
    with pytest.raises(ValueError, match=r"params\[0\]"):
        MultiAssetMarket([PARAMS.replace(jump_intensity=1.0, jump_std=1.0)], 0.0)
    with pytest.raises(ValueError, match="fill_models"):
        MultiAssetMarket([PARAMS, PARAMS], 0.0, fill_models=[None])
    market = MultiAssetMarket([PARAMS, PARAMS], 0.0, 3)
    market.reset(seed=0)
    with pytest.raises(ValueError, match="depths"):
        market.step(np.zeros((3, 1, 2)))
    with pytest.raises(TypeError, match="policy"):
        rollout_portfolio(object(), [PARAMS], 0.0, n_paths=1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        rollout_portfolio(independent([PARAMS]), [PARAMS], 0.0, n_paths=1, seed=-1)
    with pytest.raises(ValueError, match="params"):
        IndependentMakers([object()])
