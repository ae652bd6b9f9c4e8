"""Tests of asmm_env/analytic/glft.py: the GLFT (2013) exact solution with inventory bound Q.

Independent references: scipy.integrate.solve_ivp (LSODA) on the backward ODE dv/dtau = -M v,
v(0) = 1; scipy.linalg.expm; the eigendecomposition of M (in the inventories it resolves).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from asmm_env.analytic.glft import (
    GLFTQuoteTable,
    glft_asymptotic_depths,
    glft_certainty_equivalent,
    glft_depths,
    glft_log_v,
)

AS2008 = dict(gamma=0.1, sigma=2.0, A=140.0, k=1.5)  # Avellaneda & Stoikov (2008) simulation
RISK_AVERSE = dict(gamma=1.0, sigma=2.0, A=140.0, k=1.5)
THIN_MARKET = dict(gamma=0.5, sigma=1.0, A=5.0, k=0.8)


def coefficients(gamma, sigma, A, k):
    alpha = k * gamma * sigma**2 / 2
    eta = A * (1 + gamma / k) ** (-(1 + k / gamma))
    return alpha, eta


def generator_matrix(Q, gamma, sigma, A, k):
    """M of GLFT 2013 Theorem 1, written out densely and independently of the module."""
    alpha, eta = coefficients(gamma, sigma, A, k)
    q = np.arange(-Q, Q + 1, dtype=float)
    n = 2 * Q + 1
    return np.diag(alpha * q**2) - eta * (np.eye(n, k=1) + np.eye(n, k=-1))


def integrate_backward_ode(M, taus):
    """v at the given times to horizon, from dv/dtau = -M v, v(0) = 1 (LSODA)."""
    sol = solve_ivp(
        lambda _, v: -(M @ v),
        (0.0, float(np.max(taus))),
        np.ones(M.shape[0]),
        method="LSODA",
        t_eval=taus,
        rtol=1e-12,
        atol=1e-300,  # relative control of every component, even the tiny outer ones
    )
    assert sol.status == 0
    return sol.y.T


def spread_constant(gamma, k):
    return math.log(1 + gamma / k) / gamma


# --------------------------------------------------------------------------------------------
# log v against independent computations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [AS2008, RISK_AVERSE, THIN_MARKET])
@pytest.mark.parametrize("Q", [5, 10])
def test_v_matches_lsoda_integration_of_the_backward_ode(params, Q):
    taus = np.array([1e-3, 0.01, 0.1, 0.5, 1.0, 3.0])
    expected = integrate_backward_ode(generator_matrix(Q, **params), taus)
    v = np.exp(glft_log_v(taus, Q=Q, **params))
    # Observed max relative difference ~4e-10 (LSODA's global error at rtol 1e-12).
    np.testing.assert_allclose(v, expected, rtol=1e-8, atol=0)


@pytest.mark.parametrize("params", [AS2008, RISK_AVERSE])
@pytest.mark.parametrize("Q", [5, 10])
def test_log_v_matches_scipy_expm_for_short_horizons(params, Q):
    M = generator_matrix(Q, **params)
    for tau in (1e-4, 1e-3, 0.01, 0.05):
        expected = np.log(scipy.linalg.expm(-M * tau) @ np.ones(2 * Q + 1))
        # Observed <= 5e-14.
        np.testing.assert_allclose(glft_log_v(tau, Q=Q, **params), expected, rtol=0, atol=1e-12)


def test_v_is_accurate_at_outer_inventories_where_it_is_exp_minus_55_of_the_centre():
    Q = 40
    taus = np.array([0.01, 0.1, 1.0, 3.0])
    expected = integrate_backward_ode(generator_matrix(Q, **AS2008), taus)
    log_v = glft_log_v(taus, Q=Q, **AS2008)
    assert (log_v.max(axis=1) - log_v.min(axis=1))[-1] > 50  # v_{+-40} / v_0 < exp(-50)
    # Relative accuracy in every component (observed <= 9e-11), including q = +-40, which an
    # eigendecomposition U exp(-lam tau) U^T 1 cannot resolve (it drowns below 1e-16 max v).
    np.testing.assert_allclose(np.exp(log_v), expected, rtol=1e-8, atol=0)


@pytest.mark.parametrize("tau", [0.5, 5.0, 1e4])
def test_log_v_matches_eigendecomposition_in_the_inventories_it_resolves_for_Q_100(tau):
    Q = 100
    M = generator_matrix(Q, **AS2008)
    lam, U = np.linalg.eigh(M)
    partial = U @ (np.exp(-(lam - lam[0]) * tau) * (U.T @ np.ones(2 * Q + 1)))
    log_v = glft_log_v(tau, Q=Q, **AS2008)
    resolved = partial > 1e-6 * partial.max()  # |q| <~ 19 at these parameters
    assert resolved.sum() > 30
    expected = np.log(partial[resolved]) - lam[0] * tau
    # Observed 1.2e-12 (tau = 0.5), 2.2e-12 (tau = 5) and 7e-10 at tau = 1e4, where log v ~ 9.6e5:
    # 7e-16 relative, the last bits of lam0 differing between the two eigensolvers.
    np.testing.assert_allclose(log_v[resolved], expected, rtol=1e-13, atol=1e-11)


def test_log_v_is_zero_at_the_horizon_and_keeps_the_shape_of_tau():
    tau = np.zeros((2, 3))
    log_v = glft_log_v(tau, Q=4, **AS2008)
    assert log_v.shape == (2, 3, 9)
    assert np.all(log_v == 0.0)
    assert glft_log_v(0.0, Q=4, **AS2008).shape == (9,)


# --------------------------------------------------------------------------------------------
# Depths: structure and stability
# --------------------------------------------------------------------------------------------

model_parameters = st.fixed_dictionaries(
    {
        "gamma": st.floats(0.005, 5.0),
        "sigma": st.floats(0.05, 5.0),
        "A": st.floats(0.5, 500.0),
        "k": st.floats(0.1, 10.0),
    }
)


@settings(max_examples=40, deadline=None)
@given(params=model_parameters, Q=st.integers(1, 12), tau=st.floats(1e-4, 20.0))
def test_bid_depth_at_q_equals_ask_depth_at_minus_q(params, Q, tau):
    q = np.arange(-Q, Q + 1)
    bid, ask = glft_depths(tau, q, Q=Q, **params)
    np.testing.assert_array_equal(bid, ask[::-1])


@settings(max_examples=40, deadline=None)
@given(params=model_parameters, Q=st.integers(1, 12), tau=st.floats(1e-3, 20.0))
def test_bid_depth_increases_and_ask_depth_decreases_with_inventory(params, Q, tau):
    q = np.arange(-Q, Q + 1)
    bid, ask = glft_depths(tau, q, Q=Q, **params)
    assert np.all(np.diff(bid[:-1]) > 0)
    assert np.all(np.diff(ask[1:]) < 0)


def test_no_bid_at_plus_Q_and_no_ask_at_minus_Q():
    Q = 7
    bid, ask = glft_depths([0.0, 0.3, 50.0], np.array([[-Q], [Q]]), Q=Q, **AS2008)
    assert bid.shape == (2, 3)
    assert np.all(bid[1] == np.inf) and np.all(np.isfinite(bid[0]))
    assert np.all(ask[0] == np.inf) and np.all(np.isfinite(ask[1]))


def test_depths_at_the_horizon_are_the_risk_neutral_depth_ln_1_plus_gamma_over_k_over_gamma():
    Q = 5
    bid, ask = glft_depths(0.0, np.arange(-Q, Q + 1), Q=Q, **AS2008)
    constant = spread_constant(AS2008["gamma"], AS2008["k"])
    np.testing.assert_allclose(bid[:-1], constant, rtol=1e-15)
    np.testing.assert_allclose(ask[1:], constant, rtol=1e-15)


def test_depths_and_log_v_have_no_nan_or_inf_for_Q_100_up_to_tau_1e4():
    Q = 100
    taus = np.array([0.0, 1e-6, 0.01, 1.0, 10.0, 1e3, 1e4])
    q = np.arange(-Q, Q + 1)
    assert np.all(np.isfinite(glft_log_v(taus, Q=Q, **AS2008)))
    bid, ask = glft_depths(taus[:, None], q, Q=Q, **AS2008)
    assert np.all(np.isfinite(bid[:, :-1])) and np.all(bid[:, -1] == np.inf)
    assert np.all(np.isfinite(ask[:, 1:])) and np.all(ask[:, 0] == np.inf)
    assert np.all(np.diff(bid[1:, :-1], axis=1) > 0)


@pytest.mark.parametrize(
    "params", [RISK_AVERSE, dict(gamma=5.0, sigma=5.0, A=1.0, k=0.3)], ids=["gamma1", "extreme"]
)
def test_log_v_stays_finite_when_it_spans_hundreds_of_orders_of_magnitude(params):
    Q = 60
    log_v = glft_log_v([0.5, 1e4], Q=Q, **params)
    assert np.all(np.isfinite(log_v))
    assert (log_v.max(axis=1) - log_v.min(axis=1)).max() > 200  # beyond double's 1e308 range


# --------------------------------------------------------------------------------------------
# Long horizons and the asymptotic closed form
# --------------------------------------------------------------------------------------------


def test_exact_depths_converge_as_time_to_horizon_grows():
    Q = 50
    q = np.arange(-5, 6)
    taus = np.array([0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1e4])
    bid, _ = glft_depths(taus[:, None], q, Q=Q, **AS2008)
    distance_to_limit = np.abs(bid - bid[-1]).max(axis=1)
    assert np.all(np.diff(distance_to_limit) <= 1e-15)
    assert distance_to_limit[-3] < 1e-12  # relaxed by tau = 10 (relaxation ~ 1 / 7.7)


@pytest.mark.parametrize(
    "params",
    [
        AS2008,
        RISK_AVERSE,
        dict(gamma=0.01, sigma=2.0, A=140.0, k=1.5),
        dict(gamma=0.1, sigma=0.5, A=140.0, k=1.5),
    ],
    ids=["as2008", "gamma1", "gamma0.01", "sigma0.5"],
)
def test_asymptotic_depths_are_the_long_horizon_limit_up_to_the_continuum_error(params):
    # The closed form replaces the discrete ground state of M by the continuous (Gaussian)
    # one, exp(-eps q^2 / 2) with eps = sqrt(alpha / eta). Its first discreteness correction is
    # O(eps) relative on the inventory term: |exact - closed form| ~ 0.19 eps s |2q+1| / 2
    # (s = eps / k), observed 0.6 - 0.8 of the bound (eps / 4) s |2q+1| / 2 used here;
    # e.g. 2.1e-3 price units at the AS 2008 parameters for |q| <= 3 (eps = 0.078).
    alpha, eta = coefficients(**params)
    eps = math.sqrt(alpha / eta)
    slope = eps / params["k"]
    q = np.arange(-3, 4)
    bid_inf, ask_inf = glft_asymptotic_depths(q, **params)
    bid, ask = glft_depths(1e4, q, Q=50, **params)
    bound = eps / 4 * slope * np.abs(2 * q + 1) / 2
    assert np.all(np.abs(bid - bid_inf) <= bound)
    np.testing.assert_allclose(ask_inf, bid_inf[::-1], rtol=1e-14)
    assert np.all(np.abs(ask - ask_inf) <= bound[::-1])


def test_asymptotic_error_falls_from_the_horizon_to_the_continuum_floor_at_as2008_parameters():
    q = np.arange(-3, 4)
    bid_inf, _ = glft_asymptotic_depths(q, **AS2008)
    taus = np.array([0.01, 0.03, 0.1, 0.3, 1.0, 1e4])
    bid, _ = glft_depths(taus[:, None], q, Q=50, **AS2008)
    error = np.abs(bid - bid_inf).max(axis=1)  # observed 0.167 0.140 0.063 0.0016 0.0021 0.0021
    floor = error[-1]
    assert np.all(np.diff(error[:3]) < 0)
    assert error[0] > 30 * floor
    # Not monotone all the way: near tau = 0.3 the exact depths cross the closed form on their
    # way to a limit that differs from it by the continuum error (the floor).
    assert error[3] < floor
    assert abs(error[4] - floor) < 1e-6  # relaxed by tau = 1 (observed 9e-8)


def test_asymptotic_depths_match_the_closed_form_of_the_paper():
    gamma, sigma, A, k = AS2008.values()
    bid, ask = glft_asymptotic_depths(np.array([-2.0, 0.0, 3.0]), **AS2008)
    s = math.sqrt(sigma**2 * gamma / (2 * k * A) * (1 + gamma / k) ** (1 + k / gamma))
    c = math.log(1 + gamma / k) / gamma
    np.testing.assert_allclose(bid, [c - 1.5 * s, c + 0.5 * s, c + 3.5 * s], rtol=1e-14)
    np.testing.assert_allclose(ask, [c + 2.5 * s, c + 0.5 * s, c - 2.5 * s], rtol=1e-14)


# --------------------------------------------------------------------------------------------
# Certainty equivalent
# --------------------------------------------------------------------------------------------


def test_certainty_equivalent_is_log_v_at_q0_over_k():
    Q, T = 6, 2.0
    log_v = glft_log_v(T, Q=Q, **AS2008)
    for q0 in (-6, -1, 0, 4):
        ce = glft_certainty_equivalent(q0, Q=Q, T=T, **AS2008)
        assert isinstance(ce, float)
        assert ce == pytest.approx(log_v[q0 + Q] / AS2008["k"], rel=1e-15)


def test_certainty_equivalent_is_zero_at_T_0_and_grows_at_rate_minus_lam0_over_k():
    Q = 20
    assert glft_certainty_equivalent(3, Q=Q, T=0.0, **AS2008) == 0.0
    lam0 = np.linalg.eigvalsh(generator_matrix(Q, **AS2008))[0]
    ce_100 = glft_certainty_equivalent(0, Q=Q, T=100.0, **AS2008)
    ce_1e4 = glft_certainty_equivalent(0, Q=Q, T=1e4, **AS2008)
    rate = (ce_1e4 - ce_100) / (1e4 - 100.0)
    assert rate == pytest.approx(-lam0 / AS2008["k"], rel=1e-10)  # ~63.9 money per unit time


def test_certainty_equivalent_prefers_flat_inventory():
    ces = [glft_certainty_equivalent(q0, Q=10, T=1.0, **AS2008) for q0 in range(-10, 11)]
    assert np.argmax(ces) == 10
    np.testing.assert_allclose(ces, ces[::-1], rtol=1e-13)


# --------------------------------------------------------------------------------------------
# Quote table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("Q", "T", "dt"), [(10, 1.0, 0.005), (100, 20.0, 0.25)], ids=["as2008", "Q100-relaxed"]
)
def test_table_lookup_equals_direct_depths_at_grid_points(Q, T, dt):
    table = GLFTQuoteTable.build(Q=Q, T=T, dt=dt, **AS2008)
    n_steps = round(T / dt)
    assert table.n_steps == n_steps
    assert table.bid_depth.shape == table.ask_depth.shape == (n_steps + 1, 2 * Q + 1)
    t = table.time_grid
    q = np.arange(-Q, Q + 1)
    bid, ask = glft_depths((T - t)[:, None], q, Q=Q, **AS2008)
    np.testing.assert_allclose(table.bid_depth, bid, rtol=0, atol=1e-10)  # observed <= 8e-14
    np.testing.assert_allclose(table.ask_depth, ask, rtol=0, atol=1e-10)
    tt, qq = np.meshgrid(T - t, q, indexing="ij")
    looked_up_bid, looked_up_ask = table.depths(tt.ravel(), qq.ravel())
    np.testing.assert_array_equal(looked_up_bid, table.bid_depth.ravel())
    np.testing.assert_array_equal(looked_up_ask, table.ask_depth.ravel())


def test_table_lookup_rounds_to_the_nearest_grid_point_and_clips():
    Q, T, dt = 5, 1.0, 0.1
    table = GLFTQuoteTable.build(Q=Q, T=T, dt=dt, **AS2008)
    bid, ask = table.depths(
        np.array([1.0, 0.96, 0.04, -0.3, 2.0, 0.5]), np.array([0, 1.4, -2.6, 9, -9, 5])
    )
    rows = [0, 0, 10, 10, 0, 5]  # t = T - time_remaining, nearest multiple of dt, clipped
    cols = np.array([0, 1, -3, 5, -5, 5]) + Q
    np.testing.assert_array_equal(bid, table.bid_depth[rows, cols])
    np.testing.assert_array_equal(ask, table.ask_depth[rows, cols])
    assert bid[-1] == np.inf and ask[-2] == np.inf


def test_table_lookup_broadcasts_for_many_paths():
    table = GLFTQuoteTable.build(Q=10, T=1.0, dt=0.005, **AS2008)
    rng = np.random.default_rng(0)
    inventory = rng.integers(-10, 11, size=100_000)
    bid, ask = table.depths(0.37, inventory)
    assert bid.shape == ask.shape == (100_000,)
    expected_bid, _ = glft_depths(
        table.T - round((1.0 - 0.37) / 0.005) * 0.005, inventory, Q=10, **AS2008
    )
    np.testing.assert_allclose(bid, expected_bid, rtol=0, atol=1e-10)


def test_table_arrays_are_read_only():
    table = GLFTQuoteTable.build(Q=3, T=1.0, dt=0.5, **AS2008)
    with pytest.raises(ValueError):
        table.bid_depth[0, 0] = 1.0


# --------------------------------------------------------------------------------------------
# Bad inputs: ValueError naming the parameter
# --------------------------------------------------------------------------------------------

GOOD = dict(gamma=0.1, sigma=2.0, A=140.0, k=1.5, Q=5)


def call_each(**changes):
    """Call every public entry point with GOOD parameters, some of them replaced."""
    kwargs = {**GOOD, **changes}
    tau = kwargs.pop("tau", 0.5)
    q = kwargs.pop("q", 0)
    q0 = kwargs.pop("q0", 0)
    T = kwargs.pop("T", 1.0)
    dt = kwargs.pop("dt", 0.1)
    model = {name: kwargs[name] for name in ("gamma", "sigma", "A", "k")}
    yield lambda: glft_log_v(tau, **kwargs)
    yield lambda: glft_depths(tau, q, **kwargs)
    yield lambda: glft_certainty_equivalent(q0, T=T, **kwargs)
    yield lambda: GLFTQuoteTable.build(T=T, dt=dt, **kwargs)
    yield lambda: glft_asymptotic_depths(q, **model)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gamma", -1.0),
        ("gamma", 0.0),
        ("sigma", 0),
        ("sigma", float("nan")),
        ("A", -140.0),
        ("A", float("inf")),
        ("k", 0.0),
        ("k", "1.5"),
    ],
)
def test_bad_model_parameter_raises_value_error_naming_it(name, value):
    for call in call_each(**{name: value}):
        with pytest.raises(ValueError, match=rf"^{name} must be"):
            call()


def test_bad_model_parameter_message_states_value_and_range():
    with pytest.raises(ValueError, match=r"^gamma must be > 0, got -1\.0$"):
        glft_log_v(0.5, **{**GOOD, "gamma": -1.0})


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "5", None])
def test_bad_inventory_bound_raises_value_error_naming_Q(value):
    for call in list(call_each(Q=value))[:4]:  # the asymptotic formula has no bound
        with pytest.raises(ValueError, match=r"^Q must be an integer >= 1, got"):
            call()


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), [0.1, -0.2], "soon"])
def test_bad_time_to_horizon_raises_value_error_naming_tau(value):
    for call in list(call_each(tau=value))[:2]:
        with pytest.raises(ValueError, match=r"^tau must be finite and >= 0, got"):
            call()


@pytest.mark.parametrize("value", [6, -6, 0.5, [0, 1, 7], float("nan"), True])
def test_inventory_outside_minus_Q_Q_raises_value_error_naming_q(value):
    with pytest.raises(ValueError, match=r"^q must be an integer in \[-Q, Q\] = \[-5, 5\]"):
        glft_depths(0.5, value, **GOOD)


@pytest.mark.parametrize("value", [6, -7, 1.5])
def test_initial_inventory_outside_minus_Q_Q_raises_value_error_naming_q0(value):
    with pytest.raises(ValueError, match=r"^q0 must be an integer in \[-Q, Q\]"):
        glft_certainty_equivalent(value, T=1.0, **GOOD)


@pytest.mark.parametrize("value", [-1.0, float("nan")])
def test_bad_horizon_raises_value_error_naming_T(value):
    with pytest.raises(ValueError, match=r"^T must be"):
        glft_certainty_equivalent(0, T=value, **GOOD)
    with pytest.raises(ValueError, match=r"^T must be"):
        GLFTQuoteTable.build(T=value, dt=0.1, **GOOD)


@pytest.mark.parametrize("value", [0.0, -0.1, 0.3, 2.0])
def test_table_time_step_not_dividing_T_raises_value_error_naming_dt(value):
    with pytest.raises(ValueError, match=r"^(T / )?dt must"):
        GLFTQuoteTable.build(T=1.0, dt=value, **GOOD)


def test_docstring_examples_run():
    import doctest

    import asmm_env.analytic.glft as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
