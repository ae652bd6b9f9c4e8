"""Midprice models: increments' laws, byte-identity when extensions are off, and their effect
when on. Tolerances are 4 standard errors; sample sizes are stated in each test."""

import numpy as np
import pytest
from scipy import stats

from asmm_env import Market, MarketParams
from asmm_env.price import (
    ArithmeticBrownian,
    BinomialWalk,
    CompoundPoissonJumps,
    GeometricBrownian,
    StochasticVolatility,
    build_price_model,
)
from asmm_env.streams import RandomStreams


def _increments(model, n_paths, n_steps, dt, seed, s0=100.0):
    """Mid increments (n_steps, n_paths) and mids (n_steps + 1, n_paths) of a model."""
    model.reset(n_paths, RandomStreams(seed, n_paths))
    mid = np.full(n_paths, s0)
    mids, increments = [mid], []
    for _ in range(n_steps):
        increments.append(model.increment(mid, dt).copy())   # models may reuse buffers
        mid = mid + increments[-1]
        mids.append(mid)
    return np.array(increments), np.array(mids)


def _assert_within(estimate, expected, se, n_se=4.0):
    assert abs(estimate - expected) < n_se * se, (estimate, expected, se)


def test_gaussian_increments_have_variance_sigma_squared_dt():
    # 100,000 increments; n s^2 / (sigma^2 dt) ~ chi-square(n) under the null.
    sigma, dt, n = 2.0, 0.005, 100_000
    dS, _ = _increments(ArithmeticBrownian(sigma), n, 1, dt, seed=1)
    statistic = np.sum(dS**2) / (sigma**2 * dt)      # mean known (0): n degrees of freedom
    assert 1e-4 < stats.chi2.cdf(statistic, n) < 1 - 1e-4
    _assert_within(dS.var() / (sigma**2 * dt), 1.0, np.sqrt(2.0 / n))
    _assert_within(dS.mean(), 0.0, sigma * np.sqrt(dt / n))


def test_gaussian_drift_shifts_the_mean_by_drift_dt():
    sigma, drift, dt, n = 1.0, 30.0, 0.01, 100_000
    dS, _ = _increments(ArithmeticBrownian(sigma, drift), n, 1, dt, seed=2)
    _assert_within(dS.mean(), drift * dt, sigma * np.sqrt(dt / n))


def test_binomial_steps_are_exactly_plus_or_minus_sigma_sqrt_dt_with_probability_half():
    # 20 steps x 5,000 paths = 100,000 steps.
    sigma, dt = 2.0, 0.005
    dS, _ = _increments(BinomialWalk(sigma), 5_000, 20, dt, seed=3, s0=0.0)
    step = sigma * np.sqrt(dt)
    assert np.array_equal(np.abs(dS), np.full(dS.shape, step))
    up = (dS > 0).mean()
    _assert_within(up, 0.5, np.sqrt(0.25 / dS.size))


def test_binomial_drift_is_added_to_each_step():
    sigma, drift, dt = 1.0, 2.0, 0.25
    dS, _ = _increments(BinomialWalk(sigma, drift), 1000, 1, dt, seed=4, s0=0.0)
    assert set(np.round(np.unique(dS), 12)) == {0.5 + 0.5, -0.5 + 0.5}


def test_gbm_stays_positive_with_log_mean_mu_minus_half_sigma_squared_t():
    # 20,000 paths, 100 steps of dt = 0.01 at 80 % relative volatility.
    sigma, drift, dt, n_steps, n = 0.8, 0.1, 0.01, 100, 20_000
    _, mids = _increments(GeometricBrownian(sigma, drift), n, n_steps, dt, seed=5)
    assert (mids > 0).all()
    log_return = np.log(mids[-1] / mids[0])
    T = n_steps * dt
    _assert_within(log_return.mean(), (drift - 0.5 * sigma**2) * T, sigma * np.sqrt(T / n))
    _assert_within(log_return.var() / (sigma**2 * T), 1.0, np.sqrt(2.0 / n))


def test_gbm_survives_huge_volatility_without_going_negative():
    _, mids = _increments(GeometricBrownian(5.0), 1000, 50, 0.02, seed=6)
    assert (mids > 0).all()


def test_jump_model_adds_jump_variance_intensity_dt_jump_std_squared():
    # 40 steps x 5,000 paths = 200,000 independent increments; s.e. of the sample variance
    # from the sample fourth moment (jumps make the increments fat-tailed).
    sigma, dt, lam, jump_std = 1.0, 0.01, 20.0, 0.5
    model = CompoundPoissonJumps(ArithmeticBrownian(sigma), lam, jump_std)
    dS, _ = _increments(model, 5_000, 40, dt, seed=7)
    x = dS.ravel()
    expected = sigma**2 * dt + lam * dt * jump_std**2      # 0.01 + 0.05
    se = np.sqrt((np.mean(x**4) - np.mean(x**2) ** 2) / x.size)
    _assert_within(np.mean(x**2), expected, se)
    assert stats.kurtosis(x) > 1.0   # fat tails, not a rescaled Gaussian


def test_stochastic_volatility_keeps_mean_variance_but_fattens_tails_as_the_euler_recursion():
    """With full-truncation Euler and v rarely negative (Feller: 2 kappa sigma^2 >> vol_of_vol^2),
    E[v_n] = sigma^2 and Var(v_{n+1}) = (1 - kappa dt)^2 Var(v_n) + vol_of_vol^2 sigma^2 dt;
    so E[dS_n^2] = sigma^2 dt and E[dS_n^4] = 3 dt^2 (sigma^4 + Var(v_n)). 20,000 paths x 100
    steps; per-path averages over steps give independent samples for the s.e."""
    sigma, eta, kappa, dt, n_steps, n = 2.0, 4.0, 5.0, 0.01, 100, 20_000
    model = StochasticVolatility(sigma, eta, kappa)
    dS, _ = _increments(model, n, n_steps, dt, seed=8)
    var_v = np.zeros(n_steps)
    for i in range(1, n_steps):
        var_v[i] = (1 - kappa * dt) ** 2 * var_v[i - 1] + eta**2 * sigma**2 * dt
    second = (dS**2).mean(axis=0) / dt                        # per path, -> sigma^2
    _assert_within(second.mean(), sigma**2, second.std() / np.sqrt(n))
    fourth = (dS**4 / (3 * dt**2)).mean(axis=0)               # per path, -> sigma^4 + Var(v)
    expected = sigma**4 + var_v.mean()
    _assert_within(fourth.mean(), expected, fourth.std() / np.sqrt(n))
    assert expected > 1.3 * sigma**4   # the effect tested is large compared with sigma^4


def test_stochastic_volatility_variance_starts_at_sigma_squared_per_path():
    model = StochasticVolatility(1.5, 0.3, 2.0)
    model.reset(7, RandomStreams(0, 7))
    assert np.array_equal(model.variance, np.full(7, 2.25))


def _mid_and_fill_paths(params, seed=11, n_paths=64):
    """Mids (n_steps + 1, n) and fills (n_steps, n, 2) of a market quoting at fixed depths."""
    market = Market(params, n_paths)
    market.reset(np.random.default_rng(seed))
    depths = np.full((n_paths, 1, 2), 0.4)
    # Copies: the market reuses its mid and volume buffers from step to step.
    mids, fills = [market.mid.copy()], []
    while not market.done:
        fills.append(market.step(depths)[:, 0].copy())
        mids.append(market.mid.copy())
    return np.array(mids), np.array(fills)


@pytest.mark.parametrize("dynamics", ["gaussian", "binomial", "gbm"])
@pytest.mark.parametrize("off", [
    dict(jump_intensity=0.0, jump_std=3.0),
    dict(jump_intensity=50.0, jump_std=0.0),
    dict(vol_of_vol=0.0, vol_mean_reversion=123.0),
])
def test_extensions_switched_off_give_byte_identical_paths(dynamics, off):
    base = MarketParams(T=0.25, price_dynamics=dynamics,
                        sigma=0.02 if dynamics == "gbm" else 2.0)
    plain_mid, plain_fills = _mid_and_fill_paths(base)
    mid, fills = _mid_and_fill_paths(base.replace(**off))
    assert np.array_equal(plain_mid, mid) and np.array_equal(plain_fills, fills)


def test_extensions_switched_on_change_the_paths():
    base = MarketParams(T=0.25)
    plain_mid, _ = _mid_and_fill_paths(base)
    for on in (dict(jump_intensity=50.0, jump_std=0.5), dict(vol_of_vol=1.0)):
        mid, _ = _mid_and_fill_paths(base.replace(**on))
        assert not np.array_equal(plain_mid, mid), on


def test_build_price_model_composes_the_components_the_params_describe():
    assert type(build_price_model(MarketParams())) is ArithmeticBrownian
    assert type(build_price_model(MarketParams(price_dynamics="binomial"))) is BinomialWalk
    assert type(build_price_model(MarketParams(price_dynamics="gbm", sigma=0.2))) \
        is GeometricBrownian
    assert type(build_price_model(MarketParams(vol_of_vol=0.5))) is StochasticVolatility
    jumpy = build_price_model(MarketParams(vol_of_vol=0.5, jump_intensity=1.0, jump_std=0.1))
    assert type(jumpy) is CompoundPoissonJumps and type(jumpy.base) is StochasticVolatility
    assert type(build_price_model(MarketParams(jump_intensity=1.0))) is ArithmeticBrownian
