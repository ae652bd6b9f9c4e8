"""Tests of asmm_env/analytic/cartea_jaimungal.py: running-penalty market making (CJP 2015, 10.2).

Independent references: scipy.integrate.solve_ivp on the linear ODE of omega, and on the
nonlinear HJB equation of h itself (no linearisation), both written out here; the closed-form
terminal depths; the risk-neutral depth 1/k.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from asmm_env.analytic.cartea_jaimungal import CJQuoteTable, cj_depths, cj_log_omega, cj_value
from asmm_env.analytic.glft import GLFTQuoteTable

BOOK_LIKE = dict(phi=0.02, alpha=0.01, A=140.0, k=1.5)  # AS 2008 flow, mild penalties
STRONG = dict(phi=0.5, alpha=0.2, A=140.0, k=1.5)
THIN = dict(phi=0.1, alpha=1.0, A=5.0, k=0.8)


def generator(Q, phi, A, k):
    """The book's matrix A: -k phi q^2 on the diagonal, A / e off it (q = -Q..Q)."""
    q = np.arange(-Q, Q + 1, dtype=float)
    n = 2 * Q + 1
    return np.diag(-k * phi * q**2) + A / math.e * (np.eye(n, k=1) + np.eye(n, k=-1))


def omega_by_lsoda(Q, taus, phi, alpha, A, k):
    """omega at the given times to horizon from d omega / d tau = A_mat omega, omega(0) = z."""
    q = np.arange(-Q, Q + 1, dtype=float)
    mat = generator(Q, phi, A, k)
    sol = solve_ivp(lambda _, w: mat @ w, (0.0, float(np.max(taus))), np.exp(-k * alpha * q**2),
                    method="LSODA", t_eval=taus, rtol=1e-12, atol=1e-300)
    assert sol.status == 0
    return sol.y.T


def h_by_hjb(Q, taus, phi, alpha, A, k):
    """h(T - tau, q) from the nonlinear HJB in tau = T - t, with the sup over depths done in
    closed form: sup_d A e^{-k d} (d - p) = A / (k e) e^{-k p} at d = p + 1/k."""
    q = np.arange(-Q, Q + 1, dtype=float)

    def fills(h):
        bid = np.exp(-k * (h[:-1] - h[1:]))  # bid fill: q -> q + 1 (not at q = Q)
        ask = np.exp(-k * (h[1:] - h[:-1]))  # ask fill: q -> q - 1 (not at q = -Q)
        return bid, ask

    def rhs(_, h):
        bid, ask = fills(h)
        gain = np.zeros_like(h)
        gain[:-1] += bid
        gain[1:] += ask
        return -phi * q**2 + A / (k * math.e) * gain

    def jacobian(_, h):
        bid, ask = fills(h)
        rate = A / math.e
        return rate * (np.diag(np.r_[-bid, 0.0] + np.r_[0.0, -ask])
                       + np.diag(bid, 1) + np.diag(ask, -1))

    sol = solve_ivp(rhs, (0.0, float(np.max(taus))), -alpha * q**2, method="LSODA",
                    jac=jacobian, t_eval=taus, rtol=1e-11, atol=1e-11)
    assert sol.status == 0
    return sol.y.T


def depths_from_h(h, k):
    bid = 1 / k - h[..., 1:] + h[..., :-1]  # q = -Q..Q-1
    ask = 1 / k - h[..., :-1] + h[..., 1:]  # q = -Q+1..Q
    return bid, ask


# --------------------------------------------------------------------------------------------
# omega and the depths against independent integrations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [BOOK_LIKE, STRONG, THIN], ids=["book", "strong", "thin"])
@pytest.mark.parametrize("Q", [4, 10])
def test_omega_matches_lsoda_integration_of_the_linear_ode(params, Q):
    taus = np.array([1e-3, 0.01, 0.1, 0.5, 1.0, 3.0])
    expected = omega_by_lsoda(Q, taus, **params)
    omega = np.exp(cj_log_omega(taus, Q=Q, **params))
    # Observed max relative difference ~1e-10 (LSODA's global error).
    np.testing.assert_allclose(omega, expected, rtol=1e-8, atol=0)


@pytest.mark.parametrize("params", [BOOK_LIKE, STRONG, THIN], ids=["book", "strong", "thin"])
def test_depths_match_the_nonlinear_hjb_integrated_without_the_log_transform(params):
    Q = 8
    taus = np.array([0.0, 0.01, 0.2, 1.0, 4.0])
    h = h_by_hjb(Q, taus, **params)
    expected_bid, expected_ask = depths_from_h(h, params["k"])
    q = np.arange(-Q, Q + 1)
    bid, ask = cj_depths(taus[:, None], q, Q=Q, **params)
    # Observed <= 2e-10 price units and 6e-10 in h (LSODA at rtol 1e-11).
    np.testing.assert_allclose(bid[:, :-1], expected_bid, rtol=0, atol=1e-7)
    np.testing.assert_allclose(ask[:, 1:], expected_ask, rtol=0, atol=1e-7)
    assert np.all(bid[:, -1] == np.inf) and np.all(ask[:, 0] == np.inf)
    np.testing.assert_allclose(cj_log_omega(taus, Q=Q, **params) / params["k"], h, atol=1e-7)


def test_terminal_depths_are_one_over_k_plus_the_liquidation_penalty():
    Q = 6
    q = np.arange(-Q, Q + 1)
    bid, ask = cj_depths(0.0, q, Q=Q, **THIN)
    k, alpha = THIN["k"], THIN["alpha"]
    np.testing.assert_allclose(bid[:-1], 1 / k + alpha * (2 * q[:-1] + 1), rtol=1e-14)
    np.testing.assert_allclose(ask[1:], 1 / k - alpha * (2 * q[1:] - 1), rtol=1e-14)


def test_without_penalties_the_depth_is_one_over_k_away_from_the_inventory_bounds():
    # phi = alpha = 0: the risk-neutral depth 1/k. With bounds [-Q, Q] only the states within
    # reach of a bound feel it: at A = 10 (A/e = 3.7 per unit time) and tau <= 2, |q| <= 10 is
    # ~50 steps from the bounds of Q = 60, where the effect is below rounding.
    Q, A, k = 60, 10.0, 1.5
    q = np.arange(-Q, Q + 1)
    taus = np.array([0.0, 0.5, 2.0])
    bid, ask = cj_depths(taus[:, None], q, phi=0.0, alpha=0.0, A=A, k=k, Q=Q)
    inner = np.abs(q) <= 10
    np.testing.assert_allclose(bid[:, inner], 1 / k, rtol=1e-12)
    np.testing.assert_allclose(ask[:, inner], 1 / k, rtol=1e-12)
    np.testing.assert_allclose(bid[0, :-1], 1 / k, rtol=1e-14)  # at the horizon, everywhere
    # Next to the upper bound the bid is wider (reaching Q costs the bid side's trades).
    assert bid[-1, -2] > 1 / k + 0.01 and ask[-1, 1] > 1 / k + 0.01


model_parameters = st.fixed_dictionaries(
    {
        "phi": st.floats(0.0, 2.0),
        "alpha": st.floats(0.0, 2.0),
        "A": st.floats(0.5, 500.0),
        "k": st.floats(0.1, 10.0),
    }
)


@settings(max_examples=40, deadline=None)
@given(params=model_parameters, Q=st.integers(1, 12), tau=st.floats(0.0, 20.0))
def test_bid_depth_at_q_equals_ask_depth_at_minus_q(params, Q, tau):
    q = np.arange(-Q, Q + 1)
    bid, ask = cj_depths(tau, q, Q=Q, **params)
    np.testing.assert_array_equal(bid, ask[::-1])


@settings(max_examples=40, deadline=None)
@given(params=model_parameters, Q=st.integers(1, 12), tau=st.floats(0.0, 20.0))
def test_bid_depth_is_nondecreasing_in_inventory(params, Q, tau):
    # h(t, .) is concave in q, so the bid widens and the ask tightens as inventory grows.
    q = np.arange(-Q, Q + 1)
    bid, ask = cj_depths(tau, q, Q=Q, **params)
    assert np.all(np.diff(bid[:-1]) >= -1e-9)
    assert np.all(np.diff(ask[1:]) <= 1e-9)


def test_steep_terminal_penalty_with_large_Q_is_continuous_in_tau():
    # ln z spans k alpha Q^2 = 15,000 nats: propagators that drop their < 1e-280 entries would
    # lose the paths that carry the outer omega toward q = 0 (an error of ~27 price units at
    # tau = one base step before the exact steep phase was added). The depths must be
    # continuous across a multiple of the base step, where the code path changes.
    params = dict(phi=1.0, alpha=1.0, A=140.0, k=1.5)
    Q = 100
    norm = params["k"] * params["phi"] * Q**2 + 2 * params["A"] / math.e  # ||N|| of the chain
    h0 = 4.0 / norm
    q = np.arange(-Q, Q + 1)
    bid, _ = cj_depths(np.array([h0 * (1 - 1e-7), h0, 2 * h0, 2 * h0 * (1 + 1e-7)])[:, None], q,
                       Q=Q, **params)
    assert np.all(np.isfinite(bid[:, :-1]))
    assert np.abs(bid[1, :-1] - bid[0, :-1]).max() < 1e-3
    assert np.abs(bid[3, :-1] - bid[2, :-1]).max() < 1e-3


# --------------------------------------------------------------------------------------------
# Value
# --------------------------------------------------------------------------------------------


def test_value_is_minus_the_terminal_penalty_at_T_0_and_peaks_at_flat_inventory():
    Q = 10
    assert cj_value(3, Q=Q, T=0.0, **BOOK_LIKE) == pytest.approx(-0.01 * 9, rel=1e-14)
    values = [cj_value(q0, Q=Q, T=1.0, **BOOK_LIKE) for q0 in range(-Q, Q + 1)]
    assert np.argmax(values) == Q
    np.testing.assert_allclose(values, values[::-1], rtol=1e-13)
    # Risk-neutral market making earns about 2 A / (k e) per unit time at depth 1/k.
    assert values[Q] == pytest.approx(2 * 140.0 / (1.5 * math.e), rel=0.05)


def test_value_equals_h_from_the_hjb():
    Q = 6
    h = h_by_hjb(Q, np.array([2.0]), **STRONG)[0]
    for q0 in (-6, -2, 0, 5):
        assert cj_value(q0, Q=Q, T=2.0, **STRONG) == pytest.approx(h[q0 + Q], abs=1e-7)


# --------------------------------------------------------------------------------------------
# Quote table (the GLFT table's machinery)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "Q", "T", "dt"),
    [(BOOK_LIKE, 10, 1.0, 0.005), (STRONG, 30, 20.0, 0.25), (THIN, 5, 2.0, 0.1)],
    ids=["book", "strong-relaxed", "thin"],
)
def test_table_lookup_equals_direct_depths_at_grid_points(params, Q, T, dt):
    table = CJQuoteTable.build(Q=Q, T=T, dt=dt, **params)
    n_steps = round(T / dt)
    assert table.n_steps == n_steps
    assert table.bid_depth.shape == table.ask_depth.shape == (n_steps + 1, 2 * Q + 1)
    q = np.arange(-Q, Q + 1)
    bid, ask = cj_depths((T - table.time_grid)[:, None], q, Q=Q, **params)
    np.testing.assert_allclose(table.bid_depth, bid, rtol=0, atol=1e-10)
    np.testing.assert_allclose(table.ask_depth, ask, rtol=0, atol=1e-10)
    looked_up_bid, _ = table.depths(T - table.time_grid[:, None], q)
    np.testing.assert_array_equal(looked_up_bid, table.bid_depth)
    with pytest.raises(ValueError):
        table.bid_depth[0, 0] = 1.0


@pytest.mark.slow
def test_table_with_a_steep_terminal_penalty_matches_direct_depths():
    # A step dt of one base step: the table's propagator exp(-M dt) is a short Taylor sum
    # with dropped entries, which the steep terminal vector must not meet (exact steps first).
    params = dict(phi=1.0, alpha=1.0, A=140.0, k=1.5)
    Q = 100
    dt = 4.0 / (params["k"] * params["phi"] * Q**2 + 2 * params["A"] / math.e)
    T = 4 * dt
    table = CJQuoteTable.build(Q=Q, T=T, dt=dt, **params)
    bid, _ = cj_depths((T - table.time_grid)[:, None], np.arange(-Q, Q + 1), Q=Q, **params)
    np.testing.assert_allclose(table.bid_depth, bid, rtol=0, atol=1e-8)


def test_glft_table_is_unchanged_by_the_shared_machinery():
    # GLFT's terminal vector is 1 (smooth): no exact steep phase, the same propagator march.
    table = GLFTQuoteTable.build(gamma=0.1, sigma=2.0, A=140.0, k=1.5, Q=5, T=1.0, dt=0.25)
    assert table.bid_depth.shape == (5, 11)
    assert table.bid_depth[-1, 5] == pytest.approx(math.log1p(0.1 / 1.5) / 0.1, rel=1e-14)


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------

GOOD = dict(phi=0.02, alpha=0.01, A=140.0, k=1.5, Q=5)


def call_each(**changes):
    kwargs = {**GOOD, **changes}
    tau = kwargs.pop("tau", 0.5)
    q = kwargs.pop("q", 0)
    yield lambda: cj_log_omega(tau, **kwargs)
    yield lambda: cj_depths(tau, q, **kwargs)
    yield lambda: cj_value(0, T=1.0, **kwargs)
    yield lambda: CJQuoteTable.build(T=1.0, dt=0.1, **kwargs)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("phi", -0.1, "a finite number >= 0"),
        ("phi", float("nan"), "a finite number >= 0"),
        ("alpha", -1.0, "a finite number >= 0"),
        ("alpha", "0.1", "a finite number >= 0"),
        ("A", 0.0, "> 0"),
        ("k", -1.5, "> 0"),
        ("Q", 0, "an integer >= 1"),
    ],
)
def test_bad_parameter_raises_value_error_naming_it(name, value, message):
    for call in call_each(**{name: value}):
        with pytest.raises(ValueError, match=rf"^{name} must be {message}"):
            call()


@pytest.mark.parametrize("value", [6, -6, 0.5])
def test_inventory_outside_minus_Q_Q_raises_value_error_naming_q(value):
    with pytest.raises(ValueError, match=r"^q must be an integer in \[-Q, Q\] = \[-5, 5\]"):
        cj_depths(0.5, value, **GOOD)
    with pytest.raises(ValueError, match=r"^q0 must be an integer in \[-Q, Q\]"):
        cj_value(value, T=1.0, **GOOD)


def test_bad_time_raises_value_error_naming_it():
    with pytest.raises(ValueError, match=r"^tau must be finite and >= 0"):
        cj_depths(-0.1, 0, **GOOD)
    with pytest.raises(ValueError, match=r"^T must be"):
        cj_value(0, T=float("nan"), **GOOD)
    with pytest.raises(ValueError, match=r"^T / dt must be a whole number of steps >= 1"):
        CJQuoteTable.build(T=1.0, dt=0.3, **GOOD)


def test_docstring_examples_run():
    import doctest

    import asmm_env.analytic.cartea_jaimungal as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
