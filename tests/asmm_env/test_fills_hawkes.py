"""Hawkes market-order flow as a fill model (asmm_env/fills.py: HawkesOrderFlow,
hawkes_fill_model; asmm_env/streams.py: binomial_inverse), at engine level.

Statistical tests are seeded, state their path counts and compare with theory within 4
standard errors. Theory: a quote held at depth delta is reached by each order with probability
``p = min(1, exp(-k delta))``, so its fills are the p-thinned Hawkes counts:
``E F = p m T`` exactly (the flow starts at its stationary mean) and
``Var F = p^2 Var N + p (1 - p) E N``, with ``Var N / E N`` the stationary Fano factor of a
one-dimensional exponential Hawkes process (``stationary_fano_factor`` of test_hawkes.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import brentq

from asmm_env import Market, MarketParams
from asmm_env.competition_v0 import parallel_env
from asmm_env.envs.avellaneda_stoikov import AvellanedaStoikovEnv
from asmm_env.fills import HawkesOrderFlow, IndependentFills, QueueFills, hawkes_fill_model
from asmm_env.rollout import market_with, rollout
from asmm_env.streams import RandomStreams, binomial_inverse
from baselines import ConstantSpreadPolicy
from tests.asmm_env.test_hawkes import stationary_fano_factor

PARAMS = MarketParams(sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)
N_BRANCH, DECAY = 0.5, 300.0      # relaxation time 1 / 150: T covers 150 of them
DEPTH = 0.5                       # p = exp(-0.75) = 0.472


def fills_of_constant_quote(params, n_paths, seed, depth=DEPTH):
    """Bid and ask fills per path of a quote held at ``depth`` on Hawkes flow."""
    policy = ConstantSpreadPolicy.from_env(params, depth)
    factory = market_with(fill_model=hawkes_fill_model(params, branching_ratio=N_BRANCH,
                                                         decay=DECAY))
    paths = rollout(policy, params, n_paths=n_paths, seed=seed, market_factory=factory).paths
    return paths[["bid_fills", "ask_fills"]].to_numpy()


# --- binomial inversion -------------------------------------------------------------------------
def test_binomial_inverse_is_scipys_quantile_away_from_cdf_boundaries():
    rng = np.random.default_rng(0)
    u = rng.random(20_000)
    n = rng.integers(0, 40, u.size).astype(float)
    p = rng.random(u.size)
    ours = binomial_inverse(u, n, p)
    theirs = stats.binom.ppf(u, n, p)
    # ppf is the smallest x with CDF >= u, ours the smallest with CDF > u: they differ only
    # where u sits on a CDF value (to rounding).
    differ = ours != theirs
    assert differ.sum() <= 2
    if differ.any():
        np.testing.assert_allclose(stats.binom.cdf(theirs[differ], n[differ], p[differ]),
                                   u[differ], rtol=1e-9)


def test_binomial_inverse_edges_and_monotonicity_in_p():
    assert binomial_inverse(0.3, 0, 0.5) == 0
    assert binomial_inverse(0.999, 7, 0.0) == 0
    assert binomial_inverse(0.0, 7, 1.0) == 7
    assert binomial_inverse(0.99999, 7, 0.9999) == 7            # never above n
    # (1 - p)^n underflows: scipy's quantile takes over.
    assert binomial_inverse(0.5, 2000, 1 - 1e-200) == 2000
    u = np.random.default_rng(1).random(500)
    p = np.linspace(0.0, 1.0, 101)
    counts = binomial_inverse(u[:, None], 12, p[None, :])
    assert np.all(np.diff(counts, axis=1) >= 0)                 # a tighter quote: more orders


# --- the flow's draws ---------------------------------------------------------------------------
def test_counts_depend_only_on_seed_and_path_not_on_how_many_paths_run():
    def counts(n_paths, steps=30):
        flow = HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.6, decay=50.0)
        flow.reset(RandomStreams(11, n_paths, block_paths=min(n_paths, 1000)))
        return np.stack([flow.draw(0.005).copy() for _ in range(steps)])

    full = counts(1500)                      # one full block and a partial one
    assert np.array_equal(counts(1000), full[:, :1000])
    assert np.array_equal(counts(1500)[:, 1000:], full[:, 1000:])
    part = HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.6, decay=50.0)
    part.reset(RandomStreams(11, 200, block_paths=1000))     # a partial block draws it whole
    assert np.array_equal(np.stack([part.draw(0.005).copy() for _ in range(30)]),
                          full[:, :200])
    assert full[..., 1].sum() > 0 and np.all(full[..., 1] == np.round(full[..., 1]))


def test_rollout_is_the_same_for_any_chunk_size_and_a_prefix_of_a_larger_run():
    policy = ConstantSpreadPolicy.from_env(PARAMS, DEPTH)
    params = PARAMS.replace(T=0.2)

    def run(n, chunk):
        factory = market_with(fill_model=hawkes_fill_model(params, branching_ratio=0.5,
                                                           decay=80.0))
        return rollout(policy, params, n_paths=n, seed=4, chunk_size=chunk,
                       market_factory=factory).paths

    big = run(2000, 1000)
    assert big.equals(run(2000, 2000))
    assert big.iloc[:300].reset_index(drop=True).equals(run(300, 1000))


def test_two_makers_at_one_price_take_what_one_maker_alone_takes():
    fills = {}
    for n_agents in (1, 2):
        market = Market(PARAMS, 500, n_agents, block_paths=500,
                        fill_model=hawkes_fill_model(PARAMS, branching_ratio=0.5, decay=80.0))
        market.reset(seed=8)
        total = np.zeros((500, 2))
        for _ in range(40):
            total += market.step(np.full((500, n_agents, 2), 0.4)).sum(axis=1)
        fills[n_agents] = total
    assert np.array_equal(fills[1], fills[2])


# --- engine level: mean intensity and branching ratio ---------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("dt", [PARAMS.dt, PARAMS.dt / 4])
def test_mean_fills_are_stationary_intensity_times_reach_probability_times_T(dt):
    # 4,000 paths over T = 1. m = mu / (1 - n) = 140 per side, p = exp(-1.5 * 0.5): expected
    # 66.13 fills per side. Observed (seed 21): dt 66.18 +- 0.20 and 66.18 +- 0.20 (bid, ask);
    # dt / 4 66.05 +- 0.20 and 66.29 +- 0.20.
    params = PARAMS.replace(dt=dt)
    fills = fills_of_constant_quote(params, 4000, seed=21)
    expected = 140.0 * math.exp(-params.k * DEPTH) * params.T
    mean = fills.mean(axis=0)
    se = fills.std(axis=0, ddof=1) / math.sqrt(len(fills))
    assert np.all(np.abs(mean - expected) < 4 * se), (mean, se, expected)
    assert np.all(se < 0.01 * expected)


@pytest.mark.slow
def test_branching_ratio_is_recovered_from_the_fano_factor_of_fills():
    # 4,000 paths; the fills of a quote are the p-thinned counts, so Fano(F) = p Fano(N) +
    # 1 - p; Fano(N) is inverted for n with the exact finite-window formula. Standard error
    # by batch means over 20 batches of 200 paths. Observed (seed 22): Fano(F) 2.47 and 2.38,
    # n = 0.503 +- 0.010 and 0.493 +- 0.008 (true 0.5) on the two sides; the Poisson flow
    # gives Fano(F) 0.97.
    fills = fills_of_constant_quote(PARAMS, 4000, seed=22)
    p = math.exp(-PARAMS.k * DEPTH)
    for side in range(2):
        batches = fills[:, side].reshape(20, -1)
        fano = batches.var(axis=1, ddof=1) / batches.mean(axis=1)
        fano_n = (fano - (1 - p)) / p
        n_hat = [brentq(lambda n, f=f: stationary_fano_factor(n, DECAY, PARAMS.T) - f,
                        0.0, 0.99) for f in fano_n]
        mean, se = np.mean(n_hat), np.std(n_hat, ddof=1) / math.sqrt(len(n_hat))
        assert abs(mean - N_BRANCH) < 4 * se, (side, mean, se)
        assert se < 0.02
    poisson = rollout(ConstantSpreadPolicy.from_env(PARAMS, DEPTH), PARAMS, n_paths=4000,
                      seed=22).paths["bid_fills"]
    assert poisson.var() / poisson.mean() == pytest.approx(1.0, abs=0.1)


# --- every face -----------------------------------------------------------------------------------
def test_the_gymnasium_env_and_the_competition_env_take_the_hawkes_fill_model():
    env = AvellanedaStoikovEnv(fill_model=hawkes_fill_model(PARAMS, branching_ratio=0.5,
                                                            decay=80.0))
    env.reset(seed=1)
    for _ in range(5):
        env.step(np.zeros(2))
    assert not env.unwrapped.market._compiled
    comp = parallel_env(n_agents=2, fill_model=hawkes_fill_model(PARAMS, branching_ratio=0.5,
                                                                 decay=80.0))
    comp.reset(seed=1)
    comp.step({agent: np.zeros(2) for agent in comp.agents})
    independent = Market(PARAMS, 3, 2, fill_model=IndependentFills(
        HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.5, decay=80.0)))
    independent.reset(seed=2)
    independent.step(np.full((3, 2, 2), 0.3))


def test_the_compiled_step_is_bypassed_and_cannot_be_forced():
    fills = hawkes_fill_model(PARAMS, branching_ratio=0.5, decay=80.0)
    assert not Market(PARAMS, 10, fill_model=fills)._compiled
    with pytest.raises(ValueError, match="engine"):
        Market(PARAMS, 10, fill_model=fills, engine="numba")


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="branching_ratio"):
        HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=1.0, decay=10.0)
    with pytest.raises(ValueError, match="decay"):
        HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.5, decay=0.0)
    with pytest.raises(ValueError, match="cross_share"):
        HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.5, decay=1.0, cross_share=2.0)
    with pytest.raises(ValueError, match="burn_in"):
        HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.5, decay=1.0, burn_in=-1.0)
    with pytest.raises(TypeError, match="hawkes"):
        HawkesOrderFlow("not params", 1.5)
    flow = HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.5, decay=10.0)
    with pytest.raises(RuntimeError, match="reset"):
        flow.draw(0.1)
    flow.reset(RandomStreams(0, 2))
    with pytest.raises(ValueError, match="dt"):
        flow.draw()


def test_matching_flow_has_the_market_rate_and_the_stated_branching_ratio():
    flow = HawkesOrderFlow.matching(140.0, 1.5, branching_ratio=0.7, decay=20.0,
                                    cross_share=0.25)
    np.testing.assert_allclose(flow.stationary_intensity, [140.0, 140.0], rtol=1e-12)
    assert flow.hawkes.branching_ratio == pytest.approx(0.7, rel=1e-12)
    assert flow.burn_in == pytest.approx(15 * flow.hawkes.relaxation_time)
    assert isinstance(hawkes_fill_model(PARAMS, branching_ratio=0.2, decay=5.0), QueueFills)
