"""Tests of asmm_env/analytic/multi_asset.py: Guéant's quadratic approximation, d assets.

Independent references: the single-asset GLFT closed form (glft_asymptotic_depths); the exact
long-horizon Cartea–Jaimungal depths (Model B, up to the continuum error of the approximation);
scipy.linalg.solve_continuous_are for the ergodic Riccati equation; solve_ivp on the matrix
Riccati ODE; the Hamiltonian maximised numerically; and the approximate HJB equation with the
quadratic form plugged in, written out here with finite differences in q and t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.optimize import minimize_scalar

from asmm_env.analytic.cartea_jaimungal import cj_depths
from asmm_env.analytic.glft import glft_asymptotic_depths
from asmm_env.analytic.multi_asset import (
    covariance_matrix,
    gueant_depths,
    gueant_gamma_matrix,
    gueant_hamiltonian_curvature,
    gueant_static_depth,
    gueant_value_matrix,
)

AS2008 = dict(gamma=0.1, sigma=2.0, A=140.0, k=1.5)
TWO_ASSETS = dict(gamma=0.05, A=[140.0, 60.0], k=[1.5, 0.8], order_size=[1.0, 2.0])
SIGMA2 = covariance_matrix([2.0, 1.2], 0.6)


def hamiltonian(p, A, k, z, xi):
    """sup over delta of A e^{-k delta} (1 - e^{-xi z (delta - p)}) / (xi z) (or (delta - p)),
    maximised numerically; returns (value, argmax)."""
    def minus(delta):
        if xi == 0:
            return -A * math.exp(-k * delta) * (delta - p)
        return -A * math.exp(-k * delta) * -math.expm1(-xi * z * (delta - p)) / (xi * z)

    res = minimize_scalar(minus, bounds=(p - 5.0, p + 20.0 / k), method="bounded",
                          options={"xatol": 1e-12})
    return -res.fun, res.x


def h_closed_form(A, k, z, xi):
    """H(0) for exponential intensities (Guéant 2017), written out independently."""
    A, k, z = (np.asarray(v, dtype=float) for v in (A, k, z))
    if xi == 0:
        return A / (k * math.e)
    return A / k * (1 + xi * z / k) ** (-(1 + k / (xi * z)))


def liquidity(A, k, z, xi):
    """D = diag(z (alpha_2^b + alpha_2^a)), alpha_2 = H''(0) = k^2 H(0)."""
    k, z = np.asarray(k, dtype=float), np.asarray(z, dtype=float)
    return np.diag(2 * z * k**2 * h_closed_form(A, k, z, xi))


# --------------------------------------------------------------------------------------------
# One asset: the single-asset closed forms
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [AS2008, dict(gamma=1.0, sigma=2.0, A=140.0, k=1.5), dict(gamma=0.5, sigma=1.0, A=5.0, k=0.8)],
    ids=["as2008", "gamma1", "thin"],
)
def test_one_asset_reduces_to_the_glft_asymptotic_quotes(params):
    q = np.array([-7.0, -2.0, -0.5, 0.0, 1.0, 4.0, 10.0])
    model = {name: params[name] for name in ("gamma", "A", "k")}
    bid, ask = gueant_depths(q[:, None], [[params["sigma"] ** 2]], **model)
    expected_bid, expected_ask = glft_asymptotic_depths(q, **params)
    np.testing.assert_allclose(bid[:, 0], expected_bid, rtol=1e-13)
    np.testing.assert_allclose(ask[:, 0], expected_ask, rtol=1e-13)


@pytest.mark.parametrize(
    "params",
    [dict(gamma=0.1, sigma=2.0, A=140.0, k=1.5), dict(gamma=0.01, sigma=2.0, A=140.0, k=1.5)],
    ids=["phi0.2", "phi0.02"],
)
def test_one_asset_model_b_is_the_long_horizon_cartea_jaimungal_quote_up_to_the_continuum_error(
    params,
):
    # Model B (xi = 0) with running penalty (gamma / 2) sigma^2 q^2 is the CJ problem with
    # phi = gamma sigma^2 / 2 (no terminal penalty in the limit). As for GLFT, the closed form
    # replaces the discrete ground state by a Gaussian: error <= (eps / 4) s |2q + 1| / 2 with
    # eps = sqrt(k phi e / A), s = eps / k (the bound of test_glft's asymptotic test).
    # Observed 0.76 of the bound: 2.0e-3 (phi = 0.2) and 2.4e-4 price units (phi = 0.02).
    gamma, sigma, A, k = params.values()
    phi = gamma * sigma**2 / 2
    q = np.arange(-3, 4)
    bid_b, ask_b = gueant_depths(q[:, None], [[sigma**2]], gamma=gamma, A=A, k=k, xi=0.0)
    bid_cj, ask_cj = cj_depths(1e4, q, phi=phi, alpha=0.0, A=A, k=k, Q=50)
    eps = math.sqrt(k * phi * math.e / A)
    bound = eps / 4 * (eps / k) * np.abs(2 * q + 1) / 2
    assert np.all(np.abs(bid_b[:, 0] - bid_cj) <= bound)
    assert np.all(np.abs(ask_b[:, 0] - ask_cj) <= bound[::-1])
    np.testing.assert_allclose(gueant_static_depth(k=k, xi=0.0), 1 / k, rtol=1e-15)


def test_two_uncorrelated_assets_quote_as_two_independent_single_assets():
    sigma = np.array([2.0, 0.7])
    Sigma = np.diag(sigma**2)
    rng = np.random.default_rng(0)
    q = rng.integers(-10, 11, size=(50, 2)).astype(float)
    for xi in (None, 0.0, 0.3):
        bid, ask = gueant_depths(q, Sigma, xi=xi, **TWO_ASSETS)
        for i in range(2):
            one = dict(gamma=TWO_ASSETS["gamma"], A=TWO_ASSETS["A"][i], k=TWO_ASSETS["k"][i],
                       order_size=TWO_ASSETS["order_size"][i], xi=xi)
            bid_i, ask_i = gueant_depths(q[:, i : i + 1], [[sigma[i] ** 2]], **one)
            np.testing.assert_allclose(bid[:, i], bid_i[:, 0], rtol=1e-13)
            np.testing.assert_allclose(ask[:, i], ask_i[:, 0], rtol=1e-13)


# --------------------------------------------------------------------------------------------
# The Hamiltonian and the Riccati equations against numerical solutions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("z", "xi"), [(1.0, 0.1), (3.0, 0.1), (0.5, 2.0), (2.0, 0.0)])
def test_hamiltonian_curvature_and_static_depth_match_numerical_maximisation(z, xi):
    A, k, step = 140.0, 1.5, 1e-3
    values = [hamiltonian(p, A, k, z, xi)[0] for p in (-step, 0.0, step)]
    curvature = (values[0] - 2 * values[1] + values[2]) / step**2
    alpha_2 = gueant_hamiltonian_curvature(A=A, k=k, order_size=z, xi=xi)
    assert alpha_2 == pytest.approx(curvature, rel=1e-5)
    assert values[1] == pytest.approx(float(h_closed_form(A, k, z, xi)), rel=1e-9)
    argmax = hamiltonian(0.0, A, k, z, xi)[1]
    assert gueant_static_depth(k=k, order_size=z, xi=xi) == pytest.approx(argmax, abs=1e-6)


@pytest.mark.parametrize("rho", [-0.9, 0.0, 0.3, 0.95])
@pytest.mark.parametrize("xi", [None, 0.0])
def test_ergodic_matrix_solves_the_algebraic_riccati_equation_like_scipy(rho, xi):
    Sigma = covariance_matrix([2.0, 1.2], rho)
    gamma = TWO_ASSETS["gamma"]
    D = liquidity(TWO_ASSETS["A"], TWO_ASSETS["k"], TWO_ASSETS["order_size"],
                  gamma if xi is None else xi)
    # X D X = (gamma / 4) Sigma, i.e. a'X + Xa - X b r^-1 b' X + q = 0 with a = 0, b = I.
    expected = scipy.linalg.solve_continuous_are(np.zeros((2, 2)), np.eye(2), gamma / 4 * Sigma,
                                                 np.linalg.inv(D))
    value = gueant_value_matrix(np.inf, Sigma, xi=xi, **TWO_ASSETS)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-14)  # observed <= 3e-15
    Gamma = gueant_gamma_matrix(Sigma, xi=xi, **TWO_ASSETS)
    np.testing.assert_allclose(Gamma @ D @ Gamma, Sigma, rtol=1e-12)
    np.testing.assert_allclose(value, math.sqrt(gamma) / 2 * Gamma, rtol=1e-13)
    np.testing.assert_array_equal(Gamma, Gamma.T)
    assert np.linalg.eigvalsh(Gamma)[0] > 0


def test_value_matrix_matches_solve_ivp_on_the_matrix_riccati_ode():
    gamma = TWO_ASSETS["gamma"]
    D = liquidity(TWO_ASSETS["A"], TWO_ASSETS["k"], TWO_ASSETS["order_size"], gamma)

    def rhs(_, a):  # dA/dtau = (gamma / 2) Sigma - 2 A D A, A(tau = 0) = 0
        a = a.reshape(2, 2)
        return (gamma / 2 * SIGMA2 - 2 * a @ D @ a).ravel()

    taus = np.array([0.0, 0.01, 0.1, 0.5, 2.0, 10.0])
    sol = solve_ivp(rhs, (0, taus[-1]), np.zeros(4), t_eval=taus, rtol=1e-12, atol=1e-15,
                    method="LSODA")
    expected = sol.y.T.reshape(-1, 2, 2)
    value = gueant_value_matrix(taus, SIGMA2, **TWO_ASSETS)
    assert value.shape == (6, 2, 2)
    # Observed 2e-14 absolute (entries up to 0.018).
    np.testing.assert_allclose(value, expected, rtol=0, atol=1e-10)
    assert np.all(value[0] == 0.0)
    ergodic = gueant_value_matrix(np.inf, SIGMA2, **TWO_ASSETS)
    assert np.all(np.abs(np.diff(np.abs(value - ergodic).max(axis=(1, 2)))) >= 0)
    np.testing.assert_allclose(value[-1], ergodic, rtol=1e-6)


@pytest.mark.parametrize("tau", [0.05, 1.0, np.inf])
@pytest.mark.parametrize("xi", [None, 0.0])
def test_quadratic_form_solves_the_approximate_hjb_and_gives_the_quotes(tau, xi):
    # theta(t, q) = -q' A q - C(t) in 0 = d theta/dt - (gamma/2) q' Sigma q
    #   + sum_i z_i [H~(p_i^b) + H~(p_i^a)], H~ the Taylor polynomial of H at 0 and
    #   p_i^b = (theta(q) - theta(q + z_i e_i)) / z_i (finite differences, not derivatives).
    # The q-dependent part of the residual must vanish, with d A / d tau by finite differences.
    gamma, z = TWO_ASSETS["gamma"], np.array(TWO_ASSETS["order_size"])
    h0 = h_closed_form(TWO_ASSETS["A"], TWO_ASSETS["k"], z, gamma if xi is None else xi)
    k = np.array(TWO_ASSETS["k"])

    def h_tilde(p):
        return h0 * (1 - k * p + (k * p) ** 2 / 2)

    value = gueant_value_matrix(tau, SIGMA2, xi=xi, **TWO_ASSETS)
    if np.isfinite(tau):
        step = 1e-5 * tau
        d_value = (gueant_value_matrix(tau + step, SIGMA2, xi=xi, **TWO_ASSETS)
                   - gueant_value_matrix(tau - step, SIGMA2, xi=xi, **TWO_ASSETS)) / (2 * step)
    else:
        d_value = np.zeros((2, 2))

    def theta(q):
        return -q @ value @ q

    def residual(q):
        p_bid = np.array([(theta(q) - theta(q + z[i] * np.eye(2)[i])) / z[i] for i in range(2)])
        p_ask = np.array([(theta(q) - theta(q - z[i] * np.eye(2)[i])) / z[i] for i in range(2)])
        # d theta / dt = -q' dA/dt q = q' dA/dtau q (C(t) drops out of the q-dependent part)
        return (q @ d_value @ q - gamma / 2 * q @ SIGMA2 @ q
                + np.sum(z * (h_tilde(p_bid) + h_tilde(p_ask)))), p_bid, p_ask

    r0 = residual(np.zeros(2))[0]
    rng = np.random.default_rng(1)
    static = gueant_static_depth(k=k, order_size=z, xi=gamma if xi is None else xi)
    for q in rng.normal(0, 8, size=(10, 2)):
        r, p_bid, p_ask = residual(q)
        scale = gamma / 2 * q @ SIGMA2 @ q
        assert abs(r - r0) < 1e-7 * scale, (r - r0, scale)
        bid, ask = gueant_depths(q, SIGMA2, xi=xi, tau=tau, **TWO_ASSETS)
        np.testing.assert_allclose(bid, static + p_bid, rtol=1e-12)
        np.testing.assert_allclose(ask, static + p_ask, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Structure of the quotes
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    rho=st.floats(-0.99, 0.99),
    gamma=st.floats(0.001, 2.0),
    q=st.lists(st.floats(-50, 50), min_size=2, max_size=2),
    tau=st.one_of(st.floats(0.0, 50.0), st.just(math.inf)),
)
def test_bid_at_q_equals_ask_at_minus_q_and_value_matrix_is_symmetric_psd(rho, gamma, q, tau):
    Sigma = covariance_matrix([2.0, 1.2], rho)
    params = {**TWO_ASSETS, "gamma": gamma}
    bid, ask = gueant_depths(q, Sigma, tau=tau, **params)
    bid_m, ask_m = gueant_depths(-np.array(q), Sigma, tau=tau, **params)
    np.testing.assert_allclose(bid, ask_m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ask, bid_m, rtol=1e-12, atol=1e-12)
    value = gueant_value_matrix(tau, Sigma, **params)
    np.testing.assert_array_equal(value, value.T)
    assert np.linalg.eigvalsh(value)[0] >= -1e-15


@pytest.mark.parametrize("rho", [0.6, -0.6])
def test_inventory_in_one_asset_skews_the_quotes_of_a_correlated_asset(rho):
    Sigma = covariance_matrix([2.0, 1.2], rho)
    flat_bid, flat_ask = gueant_depths([0.0, 0.0], Sigma, **TWO_ASSETS)
    long_bid, long_ask = gueant_depths([5.0, 0.0], Sigma, **TWO_ASSETS)
    assert long_bid[0] > flat_bid[0] and long_ask[0] < flat_ask[0]
    # Positive correlation: long asset 0 is partly long asset 1's risk, so asset 1 is skewed
    # the same way; negative correlation, the other way (asset 1 hedges).
    sign = np.sign(rho)
    assert sign * (long_bid[1] - flat_bid[1]) > 0 and sign * (long_ask[1] - flat_ask[1]) < 0
    # Uncorrelated, asset 1's quotes ignore asset 0's inventory.
    independent = np.diag(np.diag(Sigma))
    zero_bid, zero_ask = gueant_depths([5.0, 0.0], independent, **TWO_ASSETS)
    flat_zero_bid, flat_zero_ask = gueant_depths([0.0, 0.0], independent, **TWO_ASSETS)
    assert zero_bid[1] == pytest.approx(flat_zero_bid[1], rel=1e-14)
    assert zero_ask[1] == pytest.approx(flat_zero_ask[1], rel=1e-14)


def test_depths_broadcast_over_a_batch_of_paths_and_times():
    rng = np.random.default_rng(2)
    q = rng.integers(-20, 21, size=(1000, 2)).astype(float)
    tau = rng.uniform(0, 2, size=1000)
    bid, ask = gueant_depths(q, SIGMA2, tau=tau, **TWO_ASSETS)
    assert bid.shape == ask.shape == (1000, 2)
    for i in (0, 17, 999):
        b, a = gueant_depths(q[i], SIGMA2, tau=tau[i], **TWO_ASSETS)
        np.testing.assert_allclose(bid[i], b, rtol=1e-14)
        np.testing.assert_allclose(ask[i], a, rtol=1e-14)
    assert gueant_depths([1.0, 2.0], SIGMA2, **TWO_ASSETS)[0].shape == (2,)


def test_no_quote_that_would_cross_the_inventory_bound():
    q = np.array([[9.0, 0.0], [10.0, -10.0], [0.0, -9.0]])
    bid, ask = gueant_depths(q, SIGMA2, max_inventory=[10, 10], **TWO_ASSETS)
    # order sizes 1 and 2: bid of asset 0 stops at q_0 + 1 > 10, ask of asset 1 at q_1 - 2 < -10
    assert np.isfinite(bid[0, 0]) and bid[1, 0] == np.inf
    assert ask[1, 1] == np.inf and ask[2, 1] == np.inf and np.isfinite(ask[0, 1])
    assert np.all(np.isfinite(bid[:, 1]))


def test_covariance_matrix_from_volatilities_and_correlation():
    np.testing.assert_allclose(covariance_matrix([2.0, 1.0], 0.5), [[4.0, 1.0], [1.0, 1.0]])
    R = np.array([[1.0, 0.2, -0.1], [0.2, 1.0, 0.3], [-0.1, 0.3, 1.0]])
    np.testing.assert_allclose(covariance_matrix([1.0, 2.0, 3.0], R),
                               np.outer([1, 2, 3], [1, 2, 3]) * R)


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        (dict(Sigma=[[1.0, 0.5], [0.4, 1.0]]), r"^Sigma must be a symmetric positive semi-def"),
        (dict(Sigma=[[1.0, 2.0], [2.0, 1.0]]), r"^Sigma must be .* smallest eigenvalue"),
        (dict(Sigma=[1.0, 2.0]), r"^Sigma must be .* got shape \(2,\)"),
        (dict(Sigma=[[1.0, np.nan], [np.nan, 1.0]]), r"^Sigma must be"),
        (dict(gamma=0.0), r"^gamma must be a finite number > 0, got 0\.0"),
        (dict(gamma=-1.0), r"^gamma must be"),
        (dict(A=[140.0, -1.0]), r"^A must be a finite number > 0 or d = 2 of them"),
        (dict(A=[1.0, 2.0, 3.0]), r"^A must be"),
        (dict(k=0.0), r"^k must be"),
        (dict(order_size=[1.0, 0.0]), r"^order_size must be"),
        (dict(xi=-0.1), r"^xi must be a finite number >= 0"),
        (dict(tau=-1.0), r"^tau must be >= 0"),
        (dict(tau=np.nan), r"^tau must be >= 0"),
        (dict(q=[1.0, 2.0, 3.0]), r"^q must be .* last axis of length d = 2, got shape \(3,\)"),
        (dict(q=[1.0, np.inf]), r"^q must be"),
        (dict(max_inventory=[10.0, 0.0]), r"^max_inventory must be"),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(changes, pattern):
    kwargs = dict(q=[1.0, -1.0], Sigma=SIGMA2, **TWO_ASSETS)
    kwargs.update(changes)
    q, Sigma = kwargs.pop("q"), kwargs.pop("Sigma")
    with pytest.raises(ValueError, match=pattern):
        gueant_depths(q, Sigma, **kwargs)


@pytest.mark.parametrize(
    ("sigma", "correlation", "pattern"),
    [
        ([2.0, -1.0], 0.5, r"^sigma must be"),
        ([[2.0, 1.0]], 0.5, r"^sigma must be"),
        ([2.0, 1.0], 1.5, r"^correlation must be"),
        ([2.0, 1.0], [[1.0, 0.2], [0.2, 0.9]], r"^correlation must be"),
        ([1.0, 1.0, 1.0], [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]], r"^correlation must"),
        ([1.0, 1.0, 1.0], -0.9, r"^correlation must be"),   # rho < -1/(d-1): not PSD
    ],
)
def test_bad_covariance_input_raises_value_error_naming_it(sigma, correlation, pattern):
    with pytest.raises(ValueError, match=pattern):
        covariance_matrix(sigma, correlation)


def test_docstring_examples_run():
    import doctest

    import asmm_env.analytic.multi_asset as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_a_single_rho_is_the_correlation_of_every_pair():
    cov = covariance_matrix([1.0, 2.0, 3.0], 0.5)
    np.testing.assert_allclose(cov, np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
                               * np.array([[1, 0.5, 0.5], [0.5, 1, 0.5], [0.5, 0.5, 1]]))
